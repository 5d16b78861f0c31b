"""The posts of the register and what each asks of the person put on it (STF-2): data in
``posts.yaml`` (bundled; a host may pass its own file), read with the one located-YAML
reader and checked with pydantic, so a bad file is reported with its places.

Education levels are ordered: ``secondary`` (高中/中专) < ``associate`` (大专) <
``bachelor`` (本科) < ``master`` (硕士) < ``doctorate`` (博士). A level of
qualification (``manager``, ``staff``) names the least education and years of relevant
experience; a post names its role and its level. Pure: no store, no engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.i18n import tr
from cmc_workflow.located import load_located, read_source
from cmc_workflow.problems import problems_from_validation
from cmc_workflow.staff.words import EDUCATION_WORDS

BUNDLED = Path(__file__).with_name("posts.yaml")

EDUCATION = ("secondary", "associate", "bachelor", "master", "doctorate")
"""Education levels, lowest first (their Chinese names: :data:`cmc_workflow.staff.words.
EDUCATION_ZH`)."""
Education = Literal["secondary", "associate", "bachelor", "master", "doctorate"]


def education_level(text: str) -> str | None:
    """The level named by ``text`` (``本科``, ``Bachelor``, ``bachelor's``...), or None."""
    word = text.strip().casefold()
    if word in EDUCATION:
        return word
    return EDUCATION_WORDS.get(word) or EDUCATION_WORDS.get(text.strip())


class _Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str
    en: str


class _Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: _Label
    education: Education
    years: float = Field(ge=0)
    source: str = ""


class _Post(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: _Label
    role: str = Field(min_length=1, max_length=64)
    level: str


class _Staffing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    account_posts: list[str] = []


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: dict[str, _Level]
    posts: dict[str, _Post]
    staffing: _Staffing = _Staffing()


@dataclass(frozen=True, slots=True)
class Level:
    """A level of qualification: the least education and years a post of it asks."""

    id: str
    zh: str
    en: str
    education: str
    years: float
    source: str


@dataclass(frozen=True, slots=True)
class Post:
    """A post: the role it holds and the level of qualification it asks for."""

    id: str
    zh: str
    en: str
    role: str
    level: Level

    @property
    def is_manager(self) -> bool:
        """Whether the post is a manager's post (its level is ``manager``)."""
        return self.level.id == "manager"


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The posts a register knows, by id."""

    posts: Mapping[str, Post]
    source: str
    account_posts: tuple[str, ...] = ()
    """STF-3: the posts every self-media account needs a holder of."""

    @classmethod
    def load(cls, path: str | Path = BUNDLED) -> Catalogue:
        """Read a posts file; every problem is raised together (:class:`DefinitionError`)."""
        text, problems = read_source(path)
        if text is None:
            raise DefinitionError(problems)
        doc, problems = load_located(text, str(path))
        if problems:
            raise DefinitionError(problems)
        try:
            parsed = _File.model_validate(doc.data)
        except ValidationError as exc:
            raise DefinitionError(problems_from_validation(exc, doc, _File)) from exc
        levels = {
            key: Level(key, lv.label.zh, lv.label.en, lv.education, lv.years, lv.source)
            for key, lv in parsed.levels.items()
        }
        posts: dict[str, Post] = {}
        bad: list[Problem] = []
        for key, post in parsed.posts.items():
            level = levels.get(post.level)
            if level is None:
                mark = doc.values.get(("posts", key, "level"))
                bad.append(
                    Problem.of(
                        str(path),
                        mark.line if mark else 1,
                        mark.column if mark else 1,
                        "E-STAFF-LEVEL",
                        tr(
                            "post {post} names the level {level}, which `levels` lacks",
                            post=repr(key),
                            level=repr(post.level),
                        ),
                        tr("one of: {names}", names=", ".join(sorted(levels))),
                    )
                )
                continue
            posts[key] = Post(key, post.label.zh, post.label.en, post.role, level)
        for index, name in enumerate(parsed.staffing.account_posts):
            if name not in posts:
                mark = doc.values.get(("staffing", "account_posts", index))
                bad.append(
                    Problem.of(
                        str(path),
                        mark.line if mark else 1,
                        mark.column if mark else 1,
                        "E-STAFF-POST",
                        tr("staffing names the post {post}, which `posts` lacks", post=repr(name)),
                        tr("one of: {names}", names=", ".join(sorted(posts))),
                    )
                )
        if bad:
            raise DefinitionError(bad)
        return cls(posts, str(path), tuple(parsed.staffing.account_posts))

    def find(self, text: str) -> Post | None:
        """The post named by ``text``: its id, or its Chinese or English label."""
        word = text.strip()
        if word in self.posts:
            return self.posts[word]
        folded = word.casefold()
        for post in self.posts.values():
            if word == post.zh or folded == post.en.casefold() or folded == post.id:
                return post
        return None


_BUNDLED: Catalogue | None = None


def bundled() -> Catalogue:
    """The bundled catalogue (read once)."""
    global _BUNDLED
    if _BUNDLED is None:
        _BUNDLED = Catalogue.load()
    return _BUNDLED
