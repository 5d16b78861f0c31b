"""``--help`` and click's own messages in the language of the run (issue 17): the whole
command tree has its Chinese in the catalogue, and the help a person reads follows
``--lang`` (before or after the command), ``CMC_LANG`` and the locale; a locale that
names no language keeps help English (docs/cli.md). In-process, with click's runner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cmc_workflow.cli import COMMANDS, main
from cmc_workflow.cli.help import CLICK_TEXTS, Command, Group, columns, wrap
from cmc_workflow.i18n import CATALOGUE, read_catalogue

CJK = re.compile("[\u4e00-\u9fff]")
LOCALE = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "CMC_LANG")


def _context() -> click.Context:
    """A context of the top group as a run makes it (its settings: ``-h``/``--help``;
    commands keep the help option of the first context that asks for it)."""
    return click.Context(main, info_name="cmc-workflow", **main.context_settings)


def _tree() -> Iterator[tuple[str, click.Command]]:
    """Every command of ``cmc-workflow`` with its path, as a run finds it (lazily loaded
    commands included, with the ``--lang`` the top group gives them)."""
    ctx = _context()

    def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{path} {name}"
                yield from walk(sub, f"{path} {name}")

    return walk(main, "cmc-workflow")


def test_the_tree_walk_reaches_every_command() -> None:
    paths = {path for path, _ in _tree()}
    assert {f"cmc-workflow {name}" for name in COMMANDS} <= paths
    assert {"cmc-workflow staff add", "cmc-workflow versions diff"} <= paths
    assert len(paths) > 60


def test_every_command_and_option_help_has_its_chinese() -> None:
    """Fails on a command or option whose help is not in the catalogue (translate it:
    docs/translations.md), an option without help, or a command that is not of
    cli/help.py's classes (its help would not be translated)."""
    catalogue = read_catalogue(CATALOGUE)
    ctx = _context()
    lacking, bare, foreign = [], [], []
    for path, command in _tree():
        if not isinstance(command, Command | Group):
            foreign.append(path)
        for text in (command.help, command.short_help):
            if text is not None and text not in catalogue:
                lacking.append(f"{path}: {text!r}")
        if not command.help:
            bare.append(f"{path} (the command)")
        for param in command.get_params(ctx):
            text = getattr(param, "help", None)
            if text is None:
                if isinstance(param, click.Option) and not param.hidden:
                    bare.append(f"{path} {param.opts[0]}")
            elif text not in catalogue:
                lacking.append(f"{path} {param.opts[0]}: {text!r}")
    assert not foreign, "use cls=Command / cls=Group of cmc_workflow.cli.help: " + repr(foreign)
    assert not bare, "commands and options without help: " + repr(bare)
    assert not lacking, "help without Chinese in the catalogue:\n" + "\n".join(lacking)


def test_click_own_words_have_their_chinese() -> None:
    catalogue = read_catalogue(CATALOGUE)
    assert [t for t in CLICK_TEXTS if t not in catalogue] == []


def _run(*args: str, **env: str) -> tuple[int, str]:
    """``cmc-workflow ARGS`` in-process with only the language variables of ``env``;
    the exit code and what it wrote (stdout and stderr)."""
    unset: dict[str, str | None] = dict.fromkeys(LOCALE)
    done = CliRunner().invoke(main, list(args), env={**unset, **env}, prog_name="cmc-workflow")
    return done.exit_code, done.output


def test_top_help_in_chinese_with_lang() -> None:
    code, out = _run("--lang", "zh", "--help")
    assert code == 0
    assert out.startswith("用法： cmc-workflow [OPTIONS] COMMAND [ARGS]...\n")
    assert "运行和管理 cmc-workflow：面向文化传媒中心的 YAML 流程。" in out
    assert "选项：\n" in out
    assert "命令：\n" in out
    assert "显示此帮助后退出。" in out
    assert "显示版本后退出。" in out
    assert re.search(r"^  calendar +工作日日历$", out, re.M)
    assert re.search(r"^  staff +人员名册（STF-1）$", out, re.M)
    assert "Usage:" not in out
    assert "Show this message" not in out


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("staff", "add", "--help", "--lang", "zh"), {}),  # --lang after --help
        (("--lang", "zh", "staff", "add", "--help"), {}),
        (("staff", "--lang=zh", "add", "--help"), {}),
        (("staff", "add", "--help"), {"CMC_LANG": "zh"}),
        (("staff", "add", "--help"), {"LANG": "zh_CN.UTF-8"}),
        (("staff", "add", "--help"), {"LANG": "en_US.UTF-8", "CMC_LANG": "zh"}),
    ],
)
def test_sub_command_help_in_chinese(args: tuple[str, ...], env: dict[str, str]) -> None:
    code, out = _run(*args, **env)
    assert code == 0
    assert out.startswith("用法： cmc-workflow staff add [OPTIONS] NAME\n")
    assert "登记一名人员（并安排到 --post 岗位，按 STF-2 检查）。被拒绝时以 2 退出。" in out
    assert re.search(r"^  --employee-no TEXT +工号。$", out, re.M)
    assert re.search(r"^  -h, --help +显示此帮助后退出。$", out, re.M)
    assert "操作人（人员 ID）。 [必填]" in out  # click's "required"
    assert "[默认：sqlite:///cmc.db]" in out  # click's "default: ..."


def test_help_in_english_with_en_and_where_the_locale_names_no_language() -> None:
    for env in ({"CMC_LANG": "en"}, {"LANG": "C.UTF-8"}, {}, {"LANG": "zh_CN.UTF-8"}):
        args = ("--lang", "en") if env.get("LANG", "").startswith("zh") else ()
        code, out = _run(*args, "staff", "add", "--help", **env)
        assert code == 0
        assert out.startswith("Usage: cmc-workflow staff add [OPTIONS] NAME\n")
        assert "File a person (and put them on --post posts, STF-2 checked)." in out
        assert "-h, --help" in out
        assert "Show this message and exit." in out
        assert not CJK.search(out), out


def test_chinese_help_fits_the_terminal() -> None:
    """Chinese wraps by the columns it takes (two a character), not by characters."""
    for args in (("--help",), ("compliance", "--help"), ("staff", "add", "--help")):
        code, out = _run(*args, CMC_LANG="zh")
        assert code == 0
        too_wide = [line for line in out.splitlines() if columns(line) > 80]
        assert not too_wide, too_wide


def test_wrap_breaks_chinese_between_characters_not_before_punctuation() -> None:
    lines = wrap(
        "这是一个很长的中文句子，用来测试换行（按显示宽度）。English words stay whole.", 20
    )
    assert all(columns(line) <= 20 for line in lines)
    assert "".join(lines).replace(" ", "") == (
        "这是一个很长的中文句子，用来测试换行（按显示宽度）。Englishwordsstaywhole."
    )
    assert not any(line[0] in "，。）" or line[-1] == "（" for line in lines)
    assert "words stay" in " ".join(lines)


def test_click_errors_in_chinese() -> None:
    code, out = _run("show", "--lang", "zh")
    assert code == 2
    assert out == (
        "用法： cmc-workflow show [OPTIONS] ITEM\n"
        "可运行 'cmc-workflow show --help' 查看帮助。\n\n"
        "错误：缺少参数 'ITEM'。\n"
    )
    code, out = _run("--bogus", CMC_LANG="zh")
    assert code == 2
    assert "错误：没有选项 '--bogus'。" in out
    code, out = _run("--lang", "zh", "show", "--jsn")
    assert (code, out.splitlines()[-1]) == (2, "错误：没有选项 '--jsn'。您是否想输入 '--json'？")
    code, out = _run("--lang", "zh", "report", "--format", "xml")
    assert code == 2
    assert "错误：'--format' 的值无效：'xml' 不是以下之一：'table', 'csv', 'json'。" in out
    code, out = _run("nosuch", LANG="zh_CN.UTF-8")
    assert (code, out.splitlines()[-1]) == (2, "错误：没有命令 'nosuch'。")


def test_click_errors_stay_english_in_english() -> None:
    code, out = _run("show", "--lang", "en")
    assert code == 2
    assert out.endswith(
        "Try 'cmc-workflow show --help' for help.\n\nError: Missing argument 'ITEM'.\n"
    )
    code, out = _run("report", "--format", "xml", LANG="C.UTF-8")
    assert code == 2
    assert "Error: Invalid value for '--format': 'xml' is not one of" in out


@pytest.mark.parametrize(
    ("lang", "line"),
    [("zh", "cmc-workflow，版本 "), ("en", "cmc-workflow, version ")],
)
def test_the_version_line_is_in_the_language_of_the_run(lang: str, line: str) -> None:
    code, out = _run("--lang", lang, "--version")
    assert code == 0
    assert out.startswith(line)
    assert re.fullmatch(r"\S+[，,] ?\S+ \d+\.\d+\S*\n", out)


@pytest.mark.parametrize(("lang", "word"), [("zh", "已中止！\n"), ("en", "Aborted!\n")])
def test_a_prompt_given_up_ends_with_status_1_in_the_language_of_the_run(
    tmp_path: Path, lang: str, word: str
) -> None:
    """No input where the console's password is asked for (end of input): click gives
    up the prompt; the run ends with 1 and says so in the reader's language."""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    code, out = _run("--lang", lang, "console", "password", "--db", url, "wang")
    assert code == 1
    assert out.endswith(word)
    assert ("Aborted!" in out) == (lang == "en")
