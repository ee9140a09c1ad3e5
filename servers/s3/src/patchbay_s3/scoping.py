"""Which buckets, keys and prefixes a call may touch: the base's `BucketAllowlist`, asked for every name.

The allowlist normalises a name first (percent-encoding decoded once, `.` and `//`
segments dropped, `..` and invisible characters refused) and the normalised name is the
one sent to S3, so what was checked is what is used.
"""

from __future__ import annotations

from patchbay.errors import InvalidArgument
from patchbay.scope import BucketAllowlist, Malformed, OutOfScope


def object_name(buckets: BucketAllowlist, bucket: str, key: str, argument: str = "key") -> tuple[str, str]:
    """(bucket, key) as checked and normalised.

    Raises:
        InvalidArgument: the key is malformed or names no object.
        OutOfScope: the object lies outside the allowlist.
    """
    canonical = buckets.check(f"{bucket}/{key}", argument=argument)
    name, _, normalised = canonical.partition("/")
    if not normalised:
        raise InvalidArgument(argument, "names no object: give a key inside the bucket")
    return name, normalised


def listing_prefixes(buckets: BucketAllowlist, bucket: str, prefix: str) -> list[str]:
    """The key prefixes to list for `prefix` in `bucket`: itself when in scope, else the allowed
    prefixes that lie within it (listing `logs` when only `logs/app/` is allowed lists that).

    Raises:
        InvalidArgument: the prefix is malformed.
        OutOfScope: nothing under the prefix is allowed.
    """
    name = f"{bucket}/{prefix}" if prefix else bucket
    try:
        canonical = buckets.check(name, argument="prefix")
    except OutOfScope:
        try:
            inner = buckets.entries_within(name)
        except Malformed:
            inner = []
        if not inner:
            raise
        return [entry.partition("/")[2] + "/" for entry in inner]
    return [canonical.partition("/")[2]]


def bucket_in_scope(buckets: BucketAllowlist, bucket: str) -> list[str] | None:
    """None when the whole bucket is allowed, else the allowed prefixes in it.

    Raises:
        InvalidArgument: the bucket name is malformed.
        OutOfScope: nothing in the bucket is allowed.
    """
    if buckets.admits(bucket):
        return None
    try:
        inner = buckets.entries_within(bucket)
    except Malformed:
        inner = []
    if not inner:
        buckets.check(bucket, argument="bucket")  # raises the one message for both cases
    return [entry.partition("/")[2] + "/" for entry in inner]


def admitted(buckets: BucketAllowlist, bucket: str, key: str) -> bool:
    """Whether an object S3 listed is in scope (what is not is withheld from results)."""
    return buckets.everything or buckets.admits(f"{bucket}/{key}")
