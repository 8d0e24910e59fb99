# bash completion for ferctl(1), the client of ferd.
#
# Commands and their options come from ferctl itself ("ferctl COMMAND
# --help"), so this file never lists an option the program lacks; only the
# values worth completing (sockets, JPEG files) are named here.

# Every long option a command's --help names (some help texts list two per line).
_ferctl_help_options()
{
    "$1" "$2" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

_ferctl()
{
    local cur prev words cword
    _init_completion || return

    case $prev in
        --socket | -S)
            _filedir sock
            [[ $cur == */* ]] || COMPREPLY+=($(compgen -W "/run/ferd/" -- "$cur"))
            return
            ;;
        -o | --output)
            _filedir 'jp?(e)g'
            return
            ;;
        --count | --timeout | --min-prob | --max-fps)
            return
            ;;
    esac

    # The command: the first word that is not an option or --socket's value.
    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket | -S) ((i++)) ;;
            -*) ;;
            *) cmd=${words[i]}; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--socket --help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "watch snapshot status reload view" -- "$cur"))
        fi
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_ferctl_help_options "$1" "$cmd") --socket" -- "$cur"))
    fi
} && complete -F _ferctl ferctl
