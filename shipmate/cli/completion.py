"""``shipmate completion bash|zsh|fish``: shell completion scripts generated from the
parser tree (commands, subcommands, flags, and the values of flags with choices).

:func:`command_tree` walks the parser once into :class:`Node` records; each shell's
writer turns those into tables (one line per command path) and a small function that
finds the command path among the words typed so far and offers what that node has:
its subcommands, its flags, or after a flag with choices, those choices.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass, field

from shipmate.cli.parsing import Choice

__all__ = ["Node", "cmd_completion", "command_tree", "script"]


@dataclass(frozen=True)
class Node:
    """One command path (``"shipmate gates add"``) and what may follow it."""

    path: str
    commands: tuple[str, ...]
    flags: tuple[str, ...]
    #: The flags that take a value (the word after them is not a command).
    valued: tuple[str, ...]
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _choices_of(action: argparse.Action) -> tuple[str, ...]:
    if isinstance(action.type, Choice):
        return action.type.values
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return tuple(str(c) for c in action.choices)
    return ()


def command_tree(parser: argparse.ArgumentParser, path: str = "shipmate") -> Iterator[Node]:
    """Every command path of ``parser``, the root first."""
    commands: dict[str, argparse.ArgumentParser] = {}
    flags: list[str] = []
    valued: list[str] = []
    choices: dict[str, tuple[str, ...]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
            continue
        flags.extend(action.option_strings)
        if action.option_strings and action.nargs != 0:
            valued.extend(action.option_strings)
            for flag in action.option_strings:
                if found := _choices_of(action):
                    choices[flag] = found
    yield Node(path, tuple(commands), tuple(flags), tuple(valued), choices)
    for name, child in commands.items():
        yield from command_tree(child, f"{path} {name}")


def _words(values: tuple[str, ...]) -> str:
    return " ".join(values)


def _bash(nodes: list[Node]) -> str:
    lines = [
        '# shipmate completion for bash: eval "$(shipmate completion bash)"',
        "declare -gA _shipmate_commands=() _shipmate_flags=() _shipmate_valued=() "
        "_shipmate_choices=()",
    ]
    for n in nodes:
        lines.append(f"_shipmate_commands['{n.path}']='{_words(n.commands)}'")
        lines.append(f"_shipmate_flags['{n.path}']='{_words(n.flags)}'")
        lines.append(f"_shipmate_valued['{n.path}']=' {_words(n.valued)} '")
        for flag, values in n.choices.items():
            lines.append(f"_shipmate_choices['{n.path} {flag}']='{_words(values)}'")
    lines.append(
        """_shipmate() {
    local path=shipmate word i skip=0
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if ((skip)); then skip=0; continue; fi
        if [[ $word == -* ]]; then
            [[ ${_shipmate_valued[$path]} == *" $word "* ]] && skip=1
            continue
        fi
        if [[ " ${_shipmate_commands[$path]} " == *" $word "* ]]; then
            path="$path $word"
        fi
    done
    local key="$path $prev"
    if [[ -n ${_shipmate_choices[$key]+set} ]]; then
        COMPREPLY=($(compgen -W "${_shipmate_choices[$key]}" -- "$cur"))
    elif [[ ${_shipmate_valued[$path]} == *" $prev "* ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_shipmate_flags[$path]}" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "${_shipmate_commands[$path]}" -- "$cur"))
    fi
}
complete -F _shipmate shipmate"""
    )
    return "\n".join(lines) + "\n"


def _zsh(nodes: list[Node]) -> str:
    lines = [
        "#compdef shipmate",
        "# shipmate completion for zsh: put it in $fpath as _shipmate, "
        'or eval "$(shipmate completion zsh)"',
        "typeset -gA _shipmate_commands _shipmate_flags _shipmate_valued _shipmate_choices",
    ]
    # zsh takes the quotes of a subscript literally: assign (key value ...) lists.
    tables: dict[str, list[tuple[str, str]]] = {
        "_shipmate_commands": [(n.path, _words(n.commands)) for n in nodes],
        "_shipmate_flags": [(n.path, _words(n.flags)) for n in nodes],
        "_shipmate_valued": [(n.path, f" {_words(n.valued)} ") for n in nodes],
        "_shipmate_choices": [
            (f"{n.path} {flag}", _words(values))
            for n in nodes
            for flag, values in n.choices.items()
        ],
    }
    for name, pairs in tables.items():
        lines.append(f"{name}=(")
        lines.extend(f"    '{key}' '{value}'" for key, value in pairs)
        lines.append(")")
    lines.append(
        """_shipmate() {
    local cmdpath=shipmate word i skip=0
    local cur=${words[CURRENT]} prev=${words[CURRENT-1]}
    for ((i = 2; i < CURRENT; i++)); do
        word=${words[i]}
        if ((skip)); then skip=0; continue; fi
        if [[ $word == -* ]]; then
            [[ ${_shipmate_valued[$cmdpath]} == *" $word "* ]] && skip=1
            continue
        fi
        if [[ " ${_shipmate_commands[$cmdpath]} " == *" $word "* ]]; then
            cmdpath="$cmdpath $word"
        fi
    done
    local key="$cmdpath $prev"
    if (( ${+_shipmate_choices[$key]} )); then
        compadd -- ${=_shipmate_choices[$key]}
    elif [[ ${_shipmate_valued[$cmdpath]} == *" $prev "* ]]; then
        _files
    elif [[ $cur == -* ]]; then
        compadd -- ${=_shipmate_flags[$cmdpath]}
    else
        compadd -- ${=_shipmate_commands[$cmdpath]}
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _shipmate "$@"
else
    compdef _shipmate shipmate
fi"""
    )
    return "\n".join(lines) + "\n"


def _fish(nodes: list[Node]) -> str:
    lines = [
        "# shipmate completion for fish: shipmate completion fish | source",
        "set -g __shipmate_nodes " + " ".join(f"'{n.path}'" for n in nodes),
        "set -g __shipmate_valued "
        + " ".join(f"'{n.path} {flag}'" for n in nodes for flag in n.valued),
        """function __shipmate_path
    set -l path shipmate
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $word
            if contains -- "$path $word" $__shipmate_valued
                set skip 1
            end
            continue
        end
        if contains -- "$path $word" $__shipmate_nodes
            set path "$path $word"
        end
    end
    echo $path
end
function __shipmate_at
    test (__shipmate_path) = "$argv[1]"
end
complete -c shipmate -f""",
    ]
    for n in nodes:
        at = f"-n \"__shipmate_at '{n.path}'\""
        if n.commands:
            lines.append(f"complete -c shipmate {at} -a '{_words(n.commands)}'")
        for flag in n.flags:
            spec = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            values = n.choices.get(flag)
            if values:
                spec += f" -x -a '{_words(values)}'"
            elif flag in n.valued:
                spec += " -r"
            lines.append(f"complete -c shipmate {at} {spec}")
    return "\n".join(lines) + "\n"


_WRITERS = {"bash": _bash, "zsh": _zsh, "fish": _fish}


def script(shell: str, parser: argparse.ArgumentParser | None = None) -> str:
    """The completion script of ``shell`` for ``parser`` (default: shipmate's)."""
    if parser is None:
        from shipmate.cli import build_parser

        parser = build_parser()
    return _WRITERS[shell](list(command_tree(parser)))


def cmd_completion(args: argparse.Namespace, settings: object) -> int:
    print(script(args.shell), end="")
    return 0
