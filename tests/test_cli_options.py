"""The command line's option spelling (underscores, hyphenated aliases), its top-level help, and the scene
arguments that also take a ``scene.json``."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from sync4dgs.cli.main import COMMANDS, build_command_parser, build_parser, main
from sync4dgs.eval.frame_times import MIN_ESTIMATE_CONFIDENCE
from sync4dgs.train.__main__ import build_parser as build_train_module_parser
from sync4dgs.utils.cliopts import ALIAS_NOTE, long_option

REPO = Path(__file__).resolve().parents[1]


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(name, build_command_parser(name)[1]) for name in COMMANDS]
    return out + [("python -m sync4dgs.train", build_train_module_parser())]


def _spelling_problems(parser: argparse.ArgumentParser) -> list[str]:
    problems = []
    for action in parser._actions:   # noqa: SLF001  (argparse has no public list of a parser's options)
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs:
            continue
        underscore = [s for s in longs if "-" not in s[2:]]
        if not underscore:
            problems.append(f"{longs}: no underscore spelling")
        for s in underscore:
            if "_" in s and "--" + s[2:].replace("_", "-") not in longs:
                problems.append(f"{s}: no hyphenated alias")
        for s in longs:
            if "-" in s[2:] and "--" + s[2:].replace("-", "_") not in longs:
                problems.append(f"{s}: hyphenated without its underscore spelling")
        if action.dest != argparse.SUPPRESS and "-" in action.dest:
            problems.append(f"{longs}: dest {action.dest!r} has a hyphen")
    return problems


def test_long_option_spellings():
    assert long_option("time_range") == ["--time_range", "--time-range"]
    assert long_option("time-range") == ["--time_range", "--time-range"]
    assert long_option("--train.save_iterations") == ["--train.save_iterations", "--train.save-iterations"]
    assert long_option("quiet") == ["--quiet"]
    with pytest.raises(ValueError):
        long_option("--")


@pytest.mark.parametrize("name,parser", _parsers(), ids=[n for n, _ in _parsers()])
def test_every_long_option_has_underscore_form_and_hyphen_alias(name, parser):
    problems = _spelling_problems(parser)
    assert not problems, f"{name}: " + "; ".join(problems)


def _ns(command: str, argv: list[str]) -> dict:
    return vars(build_command_parser(command)[1].parse_args(argv))


@pytest.mark.parametrize("command,underscore,hyphen", [
    ("render", ["-m", "M", "--skip_train", "--time_range=-0.5:1", "--n_frames", "5", "--freeze_time", "0.2",
                "--test_time_maps", "gt.json", "--cpu_threads", "1", "--source_path", "S"],
     ["-m", "M", "--skip-train", "--time-range=-0.5:1", "--n-frames", "5", "--freeze-time", "0.2",
      "--test-time-maps", "gt.json", "--cpu-threads", "1", "--source-path", "S"]),
    ("align", ["SCENE", "--max_offset_s", "0.5", "--track_max_side", "320"],
     ["SCENE", "--max-offset-s", "0.5", "--track-max-side", "320"]),
    ("synth", ["--out", "o", "--fps_mix", "30,25", "--no_subframe", "--max_offset_s", "1"],
     ["--out", "o", "--fps-mix", "30,25", "--no-subframe", "--max-offset-s", "1"]),
    ("unsync", ["SRC", "--out", "o", "--no_negative", "--n_frames", "3", "--test_cameras", "cam01"],
     ["SRC", "--out", "o", "--no-negative", "--n-frames", "3", "--test-cameras", "cam01"]),
    ("prepare", ["SRC", "--out", "o", "--exclude_cameras", "cam13", "--no_normalize", "--n_random_points", "50"],
     ["SRC", "--out", "o", "--exclude-cameras", "cam13", "--no-normalize", "--n-random-points", "50"]),
    ("train", ["--model_path", "M", "--source_path", "S", "--no_align", "--train.save_iterations", "[5]",
               "--offset_lr", "0.001", "--viewer_port", "9000"],
     ["--model-path", "M", "--source-path", "S", "--no-align", "--train.save-iterations", "[5]",
      "--offset-lr", "0.001", "--viewer-port", "9000"]),
])
def test_hyphenated_alias_parses_like_the_underscore_option(command, underscore, hyphen):
    assert _ns(command, underscore) == _ns(command, hyphen)


def test_parsed_values_reach_their_destinations():
    ns = _ns("synth", ["--out", "o", "--no-subframe", "--fps-mix", "30,25"])
    assert ns["subframe"] is False and ns["fps_mix"] == (30.0, 25.0)
    assert _ns("synth", ["--out", "o", "--subframe"])["subframe"] is True
    assert _ns("synth", ["--out", "o"])["subframe"] is None
    ns = _ns("render", ["-m", "M", "--time-range=-0.5:1", "--skip-train"])
    assert ns["time_range"] == "-0.5:1" and ns["skip_train"] is True
    ns = _ns("train", ["-m", "M", "-s", "S", "--offset-lr", "0.001"])
    assert ns["cfg__time.offset_lr"] == "0.001"
    assert _ns("unsync", ["SRC", "--out", "o", "--no-negative"])["allow_negative"] is False


def test_command_help_lists_underscore_spelling_only(capsys):
    with pytest.raises(SystemExit) as e:
        main(["render", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--skip_train" in out and "--time_range" in out and "--n_frames" in out
    assert "--skip-train" not in out and "--time-range" not in out
    assert " ".join(ALIAS_NOTE.split()) in " ".join(out.split())


def test_top_level_help_describes_the_tool_and_pipeline(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out == build_parser().format_help()
    assert "one subcommand per module" not in out
    assert "4D Gaussian splatting from unsynchronized multi-view videos" in out
    steps = ["sync4dgs prepare", "sync4dgs synth", "sync4dgs align", "sync4dgs train", "sync4dgs render",
             "sync4dgs metrics", "sync4dgs view", "sync4dgs export", "sync4dgs demo"]
    positions = [out.index(s) for s in steps]
    assert positions[2:6] == sorted(positions[2:6])          # align -> train -> render -> metrics, in order
    assert main([]) == 2                                       # no command: the same help, exit status 2
    assert "usual pipeline" in capsys.readouterr().out


def test_render_help_states_the_held_out_camera_clock(capsys):
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "estimate training started from" in text
    assert f"confidence is at least {MIN_ESTIMATE_CONFIDENCE:g}" in text
    assert "assumed to start with the reference" not in text


@pytest.mark.parametrize("command,argv", [
    ("train", ["-m", "M", "-s", "{scene_json}"]),
    ("render", ["-m", "M", "-s", "{scene_json}"]),
    ("metrics", ["-m", "M", "--source_path", "{scene_json}"]),
    ("export", ["-m", "M", "--format", "npz", "-s", "{scene_json}"]),
    ("view", ["-m", "M", "-s", "{scene_json}"]),
    ("align", ["{scene_json}"]),
    ("unsync", ["{scene_json}", "--out", "o"]),
])
def test_scene_arguments_take_the_scene_json(command, argv, tmp_path):
    scene_dir = tmp_path / "scene"
    scene_dir.mkdir()
    (scene_dir / "scene.json").write_text("{}")
    args = [a.format(scene_json=scene_dir / "scene.json") for a in argv]
    ns = _ns(command, args)
    value = ns["scene"] if command == "align" else ns["src"] if command == "unsync" else ns["source_path"]
    assert Path(value) == scene_dir
    folder_args = [a.format(scene_json=scene_dir) for a in argv]
    folder_ns = _ns(command, folder_args)
    assert Path(folder_ns.get("scene") or folder_ns.get("src") or folder_ns["source_path"]) == scene_dir


def test_demo_output_is_git_ignored():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("demo_output/summary.json", "demo_output/learned/results.json", "sub/demo_output/x.png"):
        r = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", path], check=False)
        assert r.returncode == 0, f"{path} is not ignored by .gitignore"
