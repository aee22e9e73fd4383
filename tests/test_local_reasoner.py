"""The local reasoner on tiny random checkpoints (real loading code), and backend choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from summarize_video.errors import ConfigError, ModelLoadError, ReasonerError
from summarize_video.options import DEFAULT_LLM_MODEL, DEFAULT_LOCAL_LLM_MODEL, Options
from summarize_video.reasoning.local_model import TransformersReasoner
from summarize_video.reasoning.registry import (
    REASONERS,
    OpenAIReasoner,
    create_reasoner,
    default_model_for,
    resolve_reasoner,
)
from summarize_video.testing.chat_server import ChatServer
from summarize_video.testing.tiny_llm import CHATML_TEMPLATE, build_tiny_llm
from tests.secrets_scan import SENTINEL
from tests.support import MESSAGES

# No real key, URL or proxy from the developer's shell (conftest.clean_llm_env).
pytestmark = pytest.mark.usefixtures("clean_llm_env")

NO_SYSTEM_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{{ message['role'] }} : {{ message['content'] }} <|im_end|> {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


@pytest.fixture(scope="module")
def tiny_llms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-llm")
    return {
        "plain": build_tiny_llm(root / "plain"),
        "cat": build_tiny_llm(root / "cat", only="cat"),
        "thinker": build_tiny_llm(root / "thinker", only="<think>"),
        "mute": build_tiny_llm(root / "mute", only="<|im_end|>"),
        "no-system": build_tiny_llm(root / "no-system", only="cat",
                                    chat_template=NO_SYSTEM_TEMPLATE),
        "short": build_tiny_llm(root / "short", context=32),
    }


def test_answers_with_exact_usage_and_loads_once(tiny_llms: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    reasoner = TransformersReasoner(str(tiny_llms["cat"]), device="cpu", max_new_tokens=5)
    assert not reasoner.loaded and reasoner.backend == "transformers"
    completion = reasoner.complete(MESSAGES)
    model = reasoner._model
    assert completion.text == "cat cat cat cat cat"
    tokenizer = AutoTokenizer.from_pretrained(tiny_llms["cat"])
    prompt_ids = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True,
                                               return_dict=True)["input_ids"]
    assert completion.usage.prompt_tokens == len(prompt_ids)
    assert completion.usage.completion_tokens == 5 and completion.usage.estimated is False
    assert completion.finish_reason == "length" and completion.json_mode_used is False
    assert completion.model == str(tiny_llms["cat"])
    again = reasoner.complete(MESSAGES, max_output_tokens=2, json_mode=True)
    assert again.text == "cat cat" and again.usage.completion_tokens == 2
    assert reasoner._model is model and reasoner.device == "cpu"


def test_random_model_gives_text_and_developer_role_is_accepted(
    tiny_llms: dict[str, Path],
) -> None:
    reasoner = TransformersReasoner(str(tiny_llms["plain"]), max_new_tokens=8)
    messages = [{"role": "developer", "content": "Be brief."}, MESSAGES[1]]
    completion = reasoner.complete(messages)
    assert completion.text and 1 <= completion.usage.completion_tokens <= 8


def test_thinking_forever_is_retried_once_then_a_clear_error(
    tiny_llms: dict[str, Path],
) -> None:
    reasoner = TransformersReasoner(str(tiny_llms["thinker"]), max_new_tokens=4)
    with pytest.raises(ReasonerError, match="output budget exhausted") as info:
        reasoner.complete(MESSAGES)
    assert reasoner.budget_scale == 4  # the retry asked for 16 tokens, and it is remembered
    assert str(tiny_llms["thinker"]) in str(info.value) and "\n" not in str(info.value)


def test_immediate_eos_is_an_empty_answer_error(tiny_llms: dict[str, Path]) -> None:
    reasoner = TransformersReasoner(str(tiny_llms["mute"]))
    with pytest.raises(ReasonerError, match=r"empty answer \(finish_reason=stop\)"):
        reasoner.complete(MESSAGES)


def test_template_without_system_role_gets_it_folded_and_remembered(
    tiny_llms: dict[str, Path],
) -> None:
    reasoner = TransformersReasoner(str(tiny_llms["no-system"]), max_new_tokens=3)
    assert reasoner.complete(MESSAGES).text == "cat cat cat"
    assert reasoner._system_role_ok is False
    assert reasoner.complete(MESSAGES).text == "cat cat cat"


def test_prompt_beyond_the_context_is_a_clear_error(tiny_llms: dict[str, Path]) -> None:
    reasoner = TransformersReasoner(str(tiny_llms["short"]))
    long_messages = [{"role": "user", "content": "the cat " * 40}]
    with pytest.raises(ReasonerError, match="beyond the model's context of 32"):
        reasoner.complete(long_messages)
    # A prompt that fits gets at most the room that is left.
    completion = reasoner.complete([{"role": "user", "content": "the cat"}])
    assert completion.usage.prompt_tokens + completion.usage.completion_tokens <= 32


def test_load_failures_are_one_line_model_errors(tmp_path: Path,
                                                 tiny_llms: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match="directory not found") as info:
        TransformersReasoner(str(tmp_path / "missing"))
    assert info.value.exit_code == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="cannot load reasoning model") as info:
        TransformersReasoner(str(tmp_path / "empty")).complete(MESSAGES)
    assert "\n" not in str(info.value)
    bare = build_tiny_llm(tmp_path / "bare", chat_template=CHATML_TEMPLATE)
    (bare / "chat_template.jinja").unlink()
    with pytest.raises(ModelLoadError, match="no chat template"):
        TransformersReasoner(str(bare)).load()
    with pytest.raises(ConfigError):
        TransformersReasoner(" ")


def test_default_local_model_has_a_causal_lm_class() -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    assert DEFAULT_LOCAL_LLM_MODEL == "Qwen/Qwen2.5-0.5B-Instruct"
    assert MODEL_FOR_CAUSAL_LM_MAPPING_NAMES["qwen2"] == "Qwen2ForCausalLM"


# -- choosing the backend ---------------------------------------------------------------------


def test_resolve_reasoner(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Options().reasoner == "auto"
    assert resolve_reasoner("auto", api_key=None, base_url=None) == "transformers"
    assert resolve_reasoner("auto", api_key=SENTINEL, base_url=None) == "openai"
    assert resolve_reasoner("AUTO", api_key=" ", base_url="http://127.0.0.1:1/v1") == "openai"
    assert resolve_reasoner("openai", api_key=None, base_url=None) == "openai"
    assert resolve_reasoner("Transformers", api_key=SENTINEL, base_url=None) == "transformers"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert resolve_reasoner("auto", api_key=None, base_url=None) == "openai"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    assert resolve_reasoner("auto", api_key=None, base_url=None) == "openai"
    with pytest.raises(ConfigError, match="unknown reasoner"):
        resolve_reasoner("ollama", api_key=None, base_url=None)
    assert default_model_for("openai") == DEFAULT_LLM_MODEL
    assert default_model_for("transformers") == DEFAULT_LOCAL_LLM_MODEL


def test_create_reasoner_auto_picks_local_without_key_or_url() -> None:
    assert REASONERS["transformers"] is TransformersReasoner
    # What the pipeline passes; the local model is not loaded (nor downloaded) yet.
    reasoner = create_reasoner("auto", model=DEFAULT_LLM_MODEL, base_url=None, api_key=None,
                               timeout=600.0)
    assert isinstance(reasoner, TransformersReasoner) and not reasoner.loaded
    assert reasoner.backend == "transformers" and reasoner.model_id == DEFAULT_LOCAL_LLM_MODEL
    mine = create_reasoner("transformers", model="org/other", max_output_tokens=7)
    assert mine.model_id == "org/other" and mine.max_new_tokens == 7
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_reasoner("openai", model=DEFAULT_LLM_MODEL, base_url=None, api_key=None)


def test_create_reasoner_auto_picks_the_server_given_a_url() -> None:
    with ChatServer(reply="remote") as srv:
        reasoner = create_reasoner("auto", model="test-model", base_url=srv.base_url,
                                   api_key=None, timeout=5.0, max_retries=0, device="cpu")
        assert isinstance(reasoner, OpenAIReasoner) and reasoner.backend == "openai"
        assert reasoner.model_id == "test-model" and reasoner.max_retries == 0
        assert reasoner.complete(MESSAGES).text == "remote"
