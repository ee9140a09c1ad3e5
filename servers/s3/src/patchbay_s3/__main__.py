"""`patchbay-s3`: parse the command line first, import the server (and boto3, later still) only to run it."""

import argparse

from patchbay.cli import main as cli_main


def _arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--buckets", metavar="LIST", help="buckets and bucket/prefix/ entries the tools may touch, comma-separated")
    add("--all-buckets", action="store_true", help="allow every bucket the credentials reach (instead of --buckets)")
    add("--region", help="AWS region (default: boto3's, from AWS_REGION or the profile)")
    add("--endpoint-url", metavar="URL", help="endpoint of an S3-compatible store (MinIO, R2, Ceph)")
    add("--profile", help="named profile of the AWS config files")
    add(
        "--path-style",
        action=argparse.BooleanOptionalAction,
        help="path-style addressing (default: on with --endpoint-url)",
    )


def main() -> None:
    """Run the S3 connector."""
    cli_main(
        "s3",
        "patchbay_s3.server:connector",
        distribution="patchbay-s3",
        description="MCP access to Amazon S3 and S3-compatible stores: read-only by default, scoped to an allowlist.",
        add_arguments=_arguments,
    )


if __name__ == "__main__":
    main()
