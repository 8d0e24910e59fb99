#!/bin/sh
# One line per face, "time id label prob", from ferctl's raw JSON stream with jq.
# Usage: watch-jq.sh [SOCKET [COUNT]]
ferctl ${1:+--socket "$1"} watch --json --count "${2:-10}" | jq -r 'select(.class == "RESULT") | .time as $t | .faces[] | "\($t) \(.id) \(.label) \(.prob)"'
