# bash completion for fer(1), ferd's offline tool.
#
# The commands and each command's options come from fer itself ("fer --help",
# "fer COMMAND --help"), so this file never lists an option the program lacks;
# only the values worth completing (models, architectures, data, fixed words)
# are named here.

# Every long option a command's --help names (some help texts list two per line).
_fer_help_options()
{
    "$1" "$2" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

_fer()
{
    local cur prev words cword
    _init_completion || return

    local cmd=${words[1]}
    if ((cword == 1)); then
        local cmds
        cmds=$("$1" --help 2>/dev/null | awk '/^commands:/ { on = 1; next } on && NF { print $1 }')
        COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
        return
    fi

    case $prev in
        --model | --init | --teacher)
            _filedir '@(fermodel|ferckpt)'
            return
            ;;
        --arch)
            # A name of an installed architecture, or a file.
            local dir=/usr/share/ferd/models names=""
            [[ -n ${FER_DATA_DIR-} ]] && dir=$FER_DATA_DIR/models
            [[ -d $dir ]] && names=$(cd "$dir" && compgen -G '*.arch' | sed 's/\.arch$//')
            COMPREPLY=($(compgen -W "$names" -- "$cur"))
            _filedir arch
            return
            ;;
        --data)
            _filedir '@(csv|gz)'
            _filedir -d
            return
            ;;
        --out | --output | -o | --report | --annotate | --cascade | --labels | --truth | --face)
            _filedir
            return
            ;;
        --split)
            COMPREPLY=($(compgen -W "Training PublicTest PrivateTest train val test" -- "$cur"))
            return
            ;;
        --contrast)
            COMPREPLY=($(compgen -W "none histeq clahe" -- "$cur"))
            return
            ;;
        --tta)
            COMPREPLY=($(compgen -W "none flip" -- "$cur"))
            return
            ;;
        --opt)
            COMPREPLY=($(compgen -W "sgd adam adamw" -- "$cur"))
            return
            ;;
        --sched)
            COMPREPLY=($(compgen -W "onecycle cosine step plateau const" -- "$cur"))
            return
            ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_fer_help_options "$1" "$cmd")" -- "$cur"))
        return
    fi
    case $cmd in
        info) _filedir '@(fermodel|arch|ferckpt)' ;;
        classify) _filedir '@(png|jpg|jpeg|bmp|pgm|ppm|tif|tiff|webp)' ;;
        *) _filedir ;;
    esac
} && complete -F _fer fer
