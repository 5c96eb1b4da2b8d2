"""``qnabot serve``: its options and what it promises on the command line."""

from __future__ import annotations

import pytest

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


def _serve_with_llm(llm, tmp_path):
    from fulfillment import handler
    from fulfillment.memory import InMemoryUserStore, Memory
    from fulfillment.pipeline import Services, TurnPipeline
    from tests.fulfillment.conftest import MemorySettingsRepo, build_kb

    pipeline = TurnPipeline(Services(build_kb(tmp_path / "k.sqlite", fixtures=False), llm,
                                     Memory(InMemoryUserStore())))
    handler.set_service(handler.FulfillmentService(pipeline, MemorySettingsRepo()))


def test_serve_names_the_llm_and_how_to_choose_another(tmp_path):
    from cli.server_commands import start_llm
    from fulfillment import handler
    from fulfillment.llm import open_llm

    _serve_with_llm(open_llm({"LLM_API": "DISABLED"}), tmp_path)
    try:
        line = start_llm()
    finally:
        handler.set_service(None)
    assert line.startswith("DISABLED (another LLM: LLM_API=OPENAI LLM_OPENAI_BASE_URL=")


def test_serve_without_the_local_model_warns_and_keeps_serving(tmp_path, monkeypatch, capsys):
    from cli.server_commands import start_llm
    from fulfillment import handler
    from fulfillment.llm import open_llm

    monkeypatch.setenv("LLM_LOCAL_MODEL_DIR", str(tmp_path / "no-models"))
    _serve_with_llm(open_llm({"LLM_API": "LOCAL"}), tmp_path)
    try:
        line = start_llm()
    finally:
        handler.set_service(None)
    assert line.startswith("LOCAL, not running")
    assert "the local model is not installed" in capsys.readouterr().err


def test_serve_with_a_misconfigured_llm_says_what_to_set(monkeypatch, tmp_path):
    from cli.output import CommandError
    from cli.server_commands import start_llm
    from fulfillment import handler

    monkeypatch.setenv("QNABOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    monkeypatch.setenv("LLM_API", "OPENAI")
    monkeypatch.delenv("LLM_OPENAI_BASE_URL", raising=False)
    handler.set_service(None)
    try:
        with pytest.raises(CommandError, match="LLM_API=OPENAI needs LLM_OPENAI_BASE_URL"):
            start_llm()
    finally:
        handler.set_service(None)
