"""Scopes: one allowlist type and matcher for every scoped thing, fail-closed, exact on
boundaries, case as each service compares, normalised before matching; each rule attacked."""

import logging
import posixpath
import re
import string
from typing import ClassVar

import mcp_types as types
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, InvalidArgument, OutOfScope, SettingsError, ToolError, runtime_of
from patchbay.cli import build_parser
from patchbay.scope import (
    BUCKETS,
    REPOSITORIES,
    BucketAllowlist,
    ChannelAllowlist,
    DriveAllowlist,
    Malformed,
    RepoAllowlist,
    within,
)
from patchbay.settings import ConnectorSettings
from patchbay.testing import connect


class ScopedSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_SCOPED_")
    cli_flags: ClassVar[frozenset[str]] = ConnectorSettings.cli_flags | {"all_repos"}
    repos: RepoAllowlist = Field(default_factory=RepoAllowlist, description="Repositories: owner/name or owner/*.")
    all_repos: bool = Field(False, description="Allow every repository the token reaches.")
    buckets: BucketAllowlist = Field(default_factory=BucketAllowlist, description="Buckets and prefixes.")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REPOS", "ALL_REPOS", "BUCKETS"):
        monkeypatch.delenv(f"PATCHBAY_SCOPED_{name}", raising=False)


def repos(*entries: str) -> RepoAllowlist:
    return RepoAllowlist(entries, setting="PATCHBAY_GITHUB_REPOS", opt_out="--all-repos")


def buckets(*entries: str) -> BucketAllowlist:
    return BucketAllowlist(entries, setting="PATCHBAY_S3_BUCKETS", opt_out="--all-buckets")


# One wording -------------------------------------------------------------------------


def test_out_of_scope_is_a_tool_error_with_one_wording() -> None:
    with pytest.raises(OutOfScope) as caught:
        repos("owner/*").check("owner-evil/x")
    assert isinstance(caught.value, ToolError)
    assert str(caught.value) == (
        "Access denied: 'owner-evil/x' is outside the allowed repositories (PATCHBAY_GITHUB_REPOS)."
    )


def test_an_empty_allowlist_admits_nothing_and_says_how_to_set_it() -> None:
    empty = repos()
    assert empty.is_empty
    assert not empty.admits("owner/x")
    with pytest.raises(OutOfScope) as caught:
        empty.check("owner/x")
    assert str(caught.value) == (
        "Access denied: 'owner/x' is outside the allowed repositories (none are allowed: set "
        "PATCHBAY_GITHUB_REPOS, e.g. octo-org/*,octo-org/app, or start with --all-repos)."
    )
    assert empty.filter(["a/b", "c/d"], key=str).kept == []


# Boundaries, case, normalisation: a battery of attacks --------------------------------

REPO_ALLOWED = ("owner/*", "Octo-Org/App")
REPO_CASES = [
    ("owner/x", "owner/x"),
    ("OWNER/X", "OWNER/X"),  # GitHub ignores case: admitted, and used as given
    ("octo-org/app", "octo-org/app"),
    ("owner/x.git", "owner/x.git"),
    ("//owner//x", "owner/x"),
    ("./owner/./x", "owner/x"),
    ("owner%2Fx", "owner/x"),  # percent-encoding decoded once, then matched and used
    ("\uff4f\uff57\uff4e\uff45\uff52/x", "owner/x"),  # fullwidth letters: NFKC
]
REPO_OUTSIDE = [
    "owner-evil/x",  # prefix look-alike owner
    "owner2/x",
    "evil/owner",
    "octo-org/app2",
    "octo-org/ap",
    "octo-org/other",
]
REPO_MALFORMED = [
    ("owner", "is not a whole name"),
    ("owner/x/y", "has too many parts"),
    ("owner/..", "'..' segment"),
    ("owner/../evil/x", "'..' segment"),
    ("owner/%2e%2e", "'..' segment"),
    ("owner/x%252F..%252Fevil", "percent-encoded more than once"),
    ("owner/%ff", "not UTF-8"),
    ("\u043ewner/x", "mixes Cyrillic and Latin"),  # Cyrillic o
    ("owner/\u0445", "ASCII"),  # Cyrillic x alone: a look-alike of an ASCII letter
    ("owner/x\u200b", "U+200B ZERO WIDTH SPACE"),
    ("owner/x\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("owner/x\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
    ("owner/x\x00", "U+0000"),
    ("owner/x\n", "U+000A"),
    ("owner/x y", "is not of the form"),
    ("owner/*", "is not of the form"),  # a wildcard is an entry, never a name
    ("", "is not a whole name"),
]


@pytest.mark.parametrize(("value", "used"), REPO_CASES)
def test_repositories_admitted_and_the_name_to_use(value: str, used: str) -> None:
    assert repos(*REPO_ALLOWED).check(value, argument="repo") == used


@pytest.mark.parametrize("value", REPO_OUTSIDE)
def test_repositories_outside_are_refused(value: str) -> None:
    allowlist = repos(*REPO_ALLOWED)
    assert not allowlist.admits(value)
    with pytest.raises(OutOfScope, match=r"^Access denied: .* is outside the allowed repositories"):
        allowlist.check(value)


@pytest.mark.parametrize(("value", "problem"), REPO_MALFORMED)
def test_malformed_repository_names_are_refused_not_guessed(value: str, problem: str) -> None:
    allowlist = RepoAllowlist(["owner/*"], everything=False)
    assert not allowlist.admits(value)
    with pytest.raises(InvalidArgument) as caught:
        allowlist.check(value, argument="repo")
    assert str(caught.value).startswith("Invalid argument 'repo': ")
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("value", "admitted"),
    [
        ("logs", False),  # the bucket itself: wider than the prefix
        ("logs/2024", True),
        ("logs/2024/", True),
        ("logs/2024/a.txt", True),
        ("logs/2024-evil/a.txt", False),
        ("logs/20244/a.txt", False),
        ("logs/2024x", False),
        ("logs/2025/a.txt", False),
        ("logs-2/2024/a.txt", False),
        ("Logs/2024/a.txt", False),  # S3 buckets and keys are case-sensitive
        ("logs/2024/A.txt", True),
        ("reports", True),
        ("reports/any/thing", True),
        ("reports-2", False),
        ("reports-2/x", False),
        ("reportsx/x", False),
        ("reports.evil/x", False),
        ("REPORTS/x", False),
    ],
)
def test_buckets_and_prefixes_match_on_boundaries_and_case(value: str, admitted: bool) -> None:
    assert buckets("logs/2024/", "reports").admits(value) is admitted


@pytest.mark.parametrize(
    ("value", "used"),
    [
        ("logs/2024//a.txt", "logs/2024/a.txt"),
        ("logs/2024/./a.txt", "logs/2024/a.txt"),
        ("logs/2024%2Fa.txt", "logs/2024/a.txt"),
        ("logs/2024/r\u00e9sum\u00e9.pdf", "logs/2024/r\u00e9sum\u00e9.pdf"),
        ("logs/2024/re\u0301sume\u0301.pdf", "logs/2024/r\u00e9sum\u00e9.pdf"),  # NFKC composes
        ("logs/2024/\u041e\u0442\u0447\u0451\u0442-report.pdf", "logs/2024/\u041e\u0442\u0447\u0451\u0442-report.pdf"),
        ("logs/2024/folder/", "logs/2024/folder/"),  # a folder marker keeps its slash
    ],
)
def test_object_keys_are_normalised_and_the_normalised_key_is_used(value: str, used: str) -> None:
    assert buckets("logs/2024/").check(value, argument="key") == used


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("logs/2024/../secret/a.txt", "'..' segment"),
        ("logs/2024/%2E%2E/secret/a.txt", "'..' segment"),
        ("logs/2024/%252E%252E/a.txt", "percent-encoded more than once"),
        ("logs/2024/\uff05\uff12\uff25\uff05\uff12\uff25/x", "'..' segment"),  # fullwidth %2E%2E
        ("logs/2024\uff0f\uff0e\uff0e\uff0fsecret", "'..' segment"),  # fullwidth /../
        ("logs/2024/\uff05\uff12\uff15\uff12\uff26", "percent-encoded more than once"),  # fullwidth %252F
        ("logs/2024/p\u0430ypal.txt", "mixes Cyrillic and Latin"),
        ("logs/2024/a\u2028b", "U+2028 LINE SEPARATOR"),
        ("logs/2024/a\u00a0b", None),  # NFKC turns a no-break space into a plain one: fine
        ("\u043e\u043e\u043e/2024/a", "is not of the form"),  # bucket names are ASCII
    ],
)
def test_object_keys_that_need_guessing_are_refused(value: str, problem: str | None) -> None:
    allowlist = buckets("logs/2024/")
    if problem is None:
        assert allowlist.check(value) == "logs/2024/a b"
        return
    with pytest.raises(InvalidArgument, match=re.escape(problem)):
        allowlist.check(value, argument="key")


@pytest.mark.parametrize(
    ("value", "aliases", "admitted"),
    [
        ("C0123ABC", (), True),
        ("c0123abc", (), False),  # ids are case-sensitive (and this is no id)
        ("C0123ABCD", (), False),
        ("C0123AB", (), False),
        ("#general", (), True),
        ("#GENERAL", (), True),  # names ignore case
        ("#General", (), True),
        ("#general-evil", (), False),
        ("#genera", (), False),
        ("#g\u0435neral", (), False),  # Cyrillic e: refused, not matched
        ("#gen\u200beral", (), False),
        ("C999", ("#general",), True),  # the upstream says C999 is #general
        ("C999", ("#random",), False),
        ("#general/x", (), False),
        ("D0123", (), False),  # direct messages only when listed
    ],
)
def test_channels_ids_exact_names_any_case(value: str, aliases: tuple[str, ...], admitted: bool) -> None:
    allowlist = ChannelAllowlist(["C0123ABC", "#General"])
    assert allowlist.admits(value, *aliases) is admitted


def test_drive_files_are_in_scope_through_the_folders_that_hold_them() -> None:
    allowlist = DriveAllowlist(["0AbCdEf123"])
    assert allowlist.check("fileId1", aliases=["parentX", "0AbCdEf123"]) == "fileId1"
    assert allowlist.check("0AbCdEf123") == "0AbCdEf123"
    for outside in ("0abcdef123", "0AbCdEf1234", "0AbCdEf12"):
        assert not allowlist.admits(outside)
    with pytest.raises(OutOfScope, match="outside the allowed folders and drives"):
        allowlist.check("fileId1", aliases=["parentX"])
    with pytest.raises(InvalidArgument):
        allowlist.check("0AbCdEf123/../x")


# Entries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("owner", "is not a whole name: write owner/name (or owner/* in the allowlist), or end it with /*"),
        ("*", "is not an entry: to allow every one, use the connector's --all option"),
        ("*/x", "is not of the form"),
        ("own*/x", "is not of the form"),
        ("owner/x*", "is not of the form"),
        ("owner/x/y", "has too many parts"),
        ("\u043ewner/*", "mixes Cyrillic and Latin"),
        ("owner/../*", "'..' segment"),
    ],
)
def test_bad_entries_are_refused_at_start_up(entry: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ScopedSettings.load({"repos": entry})
    assert str(caught.value).startswith("invalid setting PATCHBAY_SCOPED_REPOS: ")
    assert problem in str(caught.value)


def test_entries_are_normalised_too() -> None:
    allowlist = BucketAllowlist(["logs//2024/", "logs/2024", "reports/*", "\uff52eports2"])
    assert allowlist.entries == ("logs/2024", "reports", "reports2")
    assert RepoAllowlist(["Owner/*", "owner/x/*", "a/b"]).entries == ("Owner/*", "owner/x", "a/b")
    assert RepoAllowlist(["Owner/*"]).admits("OWNER/x")


def test_a_listing_wider_than_the_scope_learns_what_inside_it_is_allowed() -> None:
    allowlist = buckets("logs/2024/", "logs/2025/x", "reports", "logs2")
    assert allowlist.entries_within("logs") == ["logs/2024", "logs/2025/x"]
    assert allowlist.entries_within("logs/2025") == ["logs/2025/x"]
    assert allowlist.entries_within("logs/2024/a") == []  # inside an entry: check() admits it
    assert allowlist.entries_within("log") == []
    with pytest.raises(Malformed):
        allowlist.entries_within("logs/../x")


def test_filter_withholds_items_without_a_name() -> None:
    result = buckets("reports").filter([["reports/a"], [], ["x"]], key=lambda names: names)
    assert (result.kept, result.withheld) == ([["reports/a"]], 2)


# As a setting ------------------------------------------------------------------------


def test_allowlist_setting_from_the_environment_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHBAY_SCOPED_REPOS", " octo-org/* , me/app,")
    settings = ScopedSettings.load()
    assert settings.repos.entries == ("octo-org/*", "me/app")
    assert (settings.repos.setting, settings.repos.opt_out) == ("PATCHBAY_SCOPED_REPOS", "--all-repos")
    assert settings.buckets.setting == "PATCHBAY_SCOPED_BUCKETS"
    assert settings.buckets.opt_out is None  # no all_buckets field: no opt-out to offer
    assert settings.model_dump()["repos"] == ["octo-org/*", "me/app"]
    assert "everything=False" in repr(settings.repos)


def test_allowlist_setting_from_the_command_line() -> None:
    def add(parser: object) -> None:
        parser.add_argument("--repos")  # type: ignore[attr-defined]
        parser.add_argument("--all-repos", action="store_true")  # type: ignore[attr-defined]

    flags = vars(build_parser("scoped", distribution="patchbay", add_arguments=add).parse_args(["--repos", "a/b,c/*"]))
    assert ScopedSettings.load(flags).repos.entries == ("a/b", "c/*")


def test_start_up_says_how_to_set_an_empty_allowlist() -> None:
    settings = ScopedSettings.load()
    assert settings.scope_notices() == [
        "No repositories are allowed, so every call that names one is refused: set PATCHBAY_SCOPED_REPOS "
        "(comma-separated, e.g. octo-org/*,octo-org/app), or start with --all-repos to allow every one.",
        "No buckets and prefixes are allowed, so every call that names one is refused: set "
        "PATCHBAY_SCOPED_BUCKETS (comma-separated, e.g. reports,logs/2024/).",
    ]
    assert settings.repos.describe_empty() == settings.scope_notices()[0]


def test_all_things_opts_out_and_is_a_warning() -> None:
    settings = ScopedSettings.load({"all_repos": True, "buckets": "b12"})
    assert settings.repos.everything and not settings.repos.is_empty
    assert settings.repos.check("anyone/anything") == "anyone/anything"
    assert settings.scope_notices() == [
        "--all-repos: every one of the repositories the credentials reach is in scope; "
        "name them in PATCHBAY_SCOPED_REPOS instead to narrow it."
    ]
    with pytest.raises(InvalidArgument):  # everything allowed, still normalised
        settings.repos.check("anyone/../x")


def test_a_list_and_all_things_together_are_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        ScopedSettings.load({"all_repos": True, "repos": "a/b"})
    assert "--all-repos allows every one of the repositories, so the list in PATCHBAY_SCOPED_REPOS" in str(caught.value)


# Items that come back from elsewhere ------------------------------------------------


class Hit(BaseModel):
    repo: str
    title: str


def test_filter_keeps_items_in_scope_and_counts_the_rest() -> None:
    hits = [
        Hit(repo="owner/a", title="kept"),
        Hit(repo="owner-evil/a", title="withheld"),
        Hit(repo="Owner/B", title="kept"),
        Hit(repo="owner/a\u202e", title="withheld: malformed"),
        Hit(repo="other/x", title="withheld"),
    ]
    result = repos("owner/*").filter(hits, key=lambda hit: hit.repo)
    assert [hit.repo for hit in result.kept] == ["owner/a", "Owner/B"]
    assert result.withheld == 3
    assert result.note == "3 results outside the allowed repositories were withheld."
    one = repos("owner/*").filter(hits[:2], key=lambda hit: hit.repo)
    assert one.note == "1 result outside the allowed repositories was withheld."
    assert repos("owner/*").filter(hits[:1], key=lambda hit: hit.repo).note is None


def test_filter_with_aliases_from_the_upstream() -> None:
    messages = [("C1", "#general"), ("C2", "#random"), ("C3", "#GENERAL")]
    result = ChannelAllowlist(["#general"]).filter(messages, key=lambda m: m)
    assert result.kept == [("C1", "#general"), ("C3", "#GENERAL")]
    assert result.withheld == 1


def text_of(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


# Through a connector: start-up warnings and the client's view -------------------------

scoped = Connector("scoped", title="Scoped", version="0", settings=ScopedSettings)


class Issues(BaseModel):
    titles: list[str]
    note: str | None


@scoped.tool("read")
async def search_issues(ctx: Context, repo: str) -> Issues:
    """Issues of `repo` (in scope), and results from other repositories filtered."""
    settings: ScopedSettings = runtime_of(ctx).settings
    allowed = settings.repos.check(repo, argument="repo")
    found = [Hit(repo=allowed, title="ours"), Hit(repo="elsewhere/x", title="theirs")]
    result = settings.repos.filter(found, key=lambda hit: hit.repo)
    return Issues(titles=[hit.title for hit in result.kept], note=result.note)


def test_start_up_logs_the_notices(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="patchbay"):
        scoped.build(ScopedSettings.load({"all_repos": True, "buckets": "b12"}))
    assert [r.getMessage() for r in caplog.records if r.name == "patchbay"] == [
        "--all-repos: every one of the repositories the credentials reach is in scope; "
        "name them in PATCHBAY_SCOPED_REPOS instead to narrow it."
    ]


@pytest.mark.anyio
async def test_the_client_sees_one_wording_and_a_withheld_count(era: str) -> None:
    async with connect(scoped, {"repos": "owner/*"}, era=era) as client:
        inside = await client.call_tool("search_issues", {"repo": "owner/app"})
        outside = await client.call_tool("search_issues", {"repo": "owner-evil/app"})
        malformed = await client.call_tool("search_issues", {"repo": "owner/%2e%2e"})
    assert inside.structured_content == {
        "titles": ["ours"],
        "note": "1 result outside the allowed repositories was withheld.",
    }
    assert outside.is_error
    assert text_of(outside) == (
        "Access denied: 'owner-evil/app' is outside the allowed repositories (PATCHBAY_SCOPED_REPOS)."
    )
    assert malformed.is_error
    assert text_of(malformed) == "Invalid argument 'repo': 'owner/%2e%2e' contains a '..' segment; name the item itself"


# Properties ---------------------------------------------------------------------------

SEGMENT_CHARS = string.ascii_letters + string.digits + "-._%/ "
TRICKY = st.sampled_from(
    ["..", ".", "", "%2F", "%2e", "%252F", "/", "//", "\u200b", "\uff4c", "\u0430", "\u202e", "\uff05", "\uff0f"]
)
WORDS = st.sampled_from(["logs", "2024", "reports", "x-y", "a.b", "deep", "logs2", "2024x", "Logs", "x"])
names = st.lists(st.one_of(WORDS, st.text(SEGMENT_CHARS, min_size=1, max_size=6), TRICKY), min_size=1, max_size=6).map(
    "/".join
)
bucket_entries = st.sampled_from(["logs", "logs/2024", "logs/a.b", "reports/x-y", "logs/2024/deep"])


near_entries = st.one_of(
    names,
    st.tuples(bucket_entries, st.sampled_from(["/", "", "-", "//", "%2F", "/./"]), names).map("".join),
)


@given(value=near_entries, entries=st.lists(bucket_entries, min_size=1, max_size=3))
@example(value="logs2/x", entries=["logs"])
@example(value="logs/2024%2F..%2Fsecret", entries=["logs/2024"])
@example(value="logs/2024-evil", entries=["logs/2024"])
def test_property_admitted_means_under_an_entry_on_a_boundary(value: str, entries: list[str]) -> None:
    allowlist = BucketAllowlist(entries)
    event("admitted" if allowlist.admits(value) else "refused")
    if not allowlist.admits(value):
        return
    canonical = BUCKETS.normalise(value)
    assert canonical == allowlist.check(value)
    segments = canonical.rstrip("/").split("/")
    assert ".." not in segments and "" not in segments and "." not in segments
    assert any(segments[: len(entry.split("/"))] == entry.split("/") for entry in allowlist.entries)
    assert BUCKETS.normalise(canonical) == canonical  # normalising is idempotent: no second reading


@given(value=names)
def test_property_normalised_names_are_stable_or_refused(value: str) -> None:
    try:
        canonical = BUCKETS.normalise(value)
    except Malformed:
        return
    assert BUCKETS.normalise(canonical) == canonical
    assert canonical.isprintable()


@given(owner=st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=12), name=names)
def test_property_owner_wildcard_never_admits_another_owner(owner: str, name: str) -> None:
    allowlist = RepoAllowlist(["owner/*"])
    value = f"{owner}/{name}"
    if allowlist.admits(value):
        assert REPOSITORIES.normalise(value).split("/")[0].lower() == "owner"


@given(value=st.text(max_size=12), prefix=st.sampled_from(["/", "/a", "/a/b", "logs", "logs/"]))
def test_property_within_is_equal_or_under_a_separator(value: str, prefix: str) -> None:
    if within(value, prefix):
        rest = value[len(prefix) :]
        assert value.startswith(prefix)
        assert rest == "" or prefix.endswith("/") or rest.startswith("/")
    assert within(posixpath.join(prefix, "x"), prefix)
