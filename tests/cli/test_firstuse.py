"""load_on_first_use: the module stays unloaded through ``import``, and its first use
loads the real module, in a fresh interpreter (this one has loaded inspect already)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import sys
    import types

    from shipmate.cli.firstuse import load_on_first_use

    load_on_first_use("inspect")
    import dataclasses  # imports inspect, uses nothing of it
    import inspect

    assert "ast" not in sys.modules, "inspect's code ran at its import"
    assert inspect.__name__ == "inspect" and inspect.__spec__.name == "inspect"


    @dataclasses.dataclass
    class Undocumented:
        a: int


    # dataclasses asked inspect for a signature: the real module loaded, once.
    assert Undocumented.__doc__ == "Undocumented(a: int)", Undocumented.__doc__
    assert "ast" in sys.modules
    assert type(inspect) is types.ModuleType
    assert sys.modules["inspect"] is inspect
    from inspect import signature

    assert str(signature(lambda x, y=1: None)) == "(x, y=1)"
    try:
        inspect.no_such_name
    except AttributeError:
        pass
    else:
        raise AssertionError("a name inspect does not define was found")
    load_on_first_use("inspect")  # already loaded: left as it is
    assert sys.modules["inspect"] is inspect
    print("ok")
    """
)


def test_the_module_loads_on_first_use_and_is_then_the_real_one() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
