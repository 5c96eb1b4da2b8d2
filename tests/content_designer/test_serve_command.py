"""``qnabot serve``: its options and what it promises on the command line."""

from __future__ import annotations

from cli.main import build_parser
from cli.server_commands import DEMO_FOLDER, run_serve


def test_serve_listens_on_this_machine_only_by_default():
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.load_demo) == ("127.0.0.1", 8000, False)
    assert args.func is run_serve


def test_serve_takes_host_port_and_the_demo_switch():
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "0", "--load-demo"])
    assert (args.host, args.port, args.load_demo) == ("0.0.0.0", 0, True)


def test_the_demo_content_ships_with_the_project():
    assert sorted(p.name for p in DEMO_FOLDER.glob("*.json"))
