package hbctl

import (
	"fmt"
	"io"
)

const bashCompletion = `# bash completion for hbctl
_hbctl() {
    local cur prev cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    case "$prev" in
        --config-dir|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --bus-address|--node-name) return ;;
    esac
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --config-dir|--socket|--bus-address|--node-name) ((i++)) ;;
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "--json --bus-address --socket --config-dir --node-name" -- "$cur"))
        return
    fi
    case "$cmd" in
        "") COMPREPLY=($(compgen -W "status nodes groups standby takeover reload check-config watch completion version help" -- "$cur")) ;;
        standby|takeover) COMPREPLY=($(compgen -W "all local foreign failback" -- "$cur")) ;;
        completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
        help) COMPREPLY=($(compgen -W "json" -- "$cur")) ;;
    esac
}
complete -F _hbctl hbctl
`

const zshCompletion = `#compdef hbctl
# zsh completion for hbctl
_hbctl() {
    local -a commands
    commands=(
        'status:local node, nodes with links, groups, transitions'
        'nodes:the nodes, their status and links'
        'groups:the resource groups and who holds them'
        'standby:give groups away to another node'
        'takeover:pull groups to this node'
        'reload:make the daemon re-read its configuration'
        'check-config:check the configuration'
        'watch:print every change the daemon announces'
        'completion:print a shell completion script'
        'version:print the version'
        'help:show help'
    )
    _arguments -C \
        '--json[print JSON]' \
        '--bus-address[D-Bus address]:address:' \
        '--socket[control socket]:socket:_files' \
        '--config-dir[configuration directory]:directory:_files -/' \
        '--node-name[node name]:name:' \
        '1:command:->command' \
        '*::arg:->args'
    case $state in
        command) _describe 'command' commands ;;
        args)
            case $words[1] in
                standby|takeover) _values 'which' all local foreign failback ;;
                completion) _values 'shell' bash zsh ;;
                help) _values 'topic' json ;;
            esac ;;
    esac
}
_hbctl "$@"
`

// completion prints the completion script of a shell.
func completion(w io.Writer, shell string) error {
	switch shell {
	case "bash":
		_, err := io.WriteString(w, bashCompletion)
		return err
	case "zsh":
		_, err := io.WriteString(w, zshCompletion)
		return err
	}
	return &exitError{ExitUsage, fmt.Errorf("completion: unknown shell %q: want bash or zsh", shell)}
}
