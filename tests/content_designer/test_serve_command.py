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


def test_the_demo_loads_into_an_empty_knowledge_base_only(make_services, capsys):
    from cli.server_commands import load_demo_if_empty

    kb = make_services().kb
    assert load_demo_if_empty(kb) is True
    loaded = kb.store.count()
    assert loaded > 100
    assert "loaded the demo content" in capsys.readouterr().out

    kb.store.delete([kb.store.list(limit=1).items[0].qid])  # an admin deletes an item
    assert load_demo_if_empty(kb) is False  # the next start leaves it deleted
    assert kb.store.count() == loaded - 1
    assert "demo content not loaded" in capsys.readouterr().out
