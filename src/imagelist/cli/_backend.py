"""What ``imagelist-glance`` and ``imagelist-opennebula`` share: options, run, output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..backends.handler import CONFIG_ENV, DEFAULT_CONFIG, handle, make_backend
from ..errors import ConfigurationError
from ._common import add_logging_options, configure_logging, make_parser, parse_with_settings
from ._settings import settings_of

__all__ = ["backend_command"]


_TITLE = {"glance": "OpenStack Glance", "opennebula": "OpenNebula"}


def _parser(prog: str, kind: str) -> argparse.ArgumentParser:
    parser = make_parser(
        prog,
        formatter_class=argparse.HelpFormatter,
        description=(
            f"vmcatcher event handler for {_TITLE[kind]}: set VMCATCHER_CACHE_EVENT to this "
            "command. It reads the event from the "
            "VMCATCHER_EVENT_* environment, publishes on AvailablePostfix, retires on "
            "ExpirePostfix, and exits non-zero when the cloud call failed."
        ),
    )
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help=f"configuration file (default: ${CONFIG_ENV[kind]}, else {DEFAULT_CONFIG[kind]})",
    )
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="print the calls that would change the cloud"
    )
    parser.add_argument(
        "-l", "--list", action="store_true", help="list the images this backend manages and exit"
    )
    add_logging_options(parser, env_var=None)
    return parser


def _missing_credentials(kind: str, exc: Exception) -> ConfigurationError | None:
    """A ConfigurationError (78) when openstacksdk found no usable credentials, else None.

    keystoneauth reports "no auth_url", "no auth plugin" and the like as AuthPluginException:
    that is a setting to fix, not a bug (it used to be an internal error, exit 70).
    """
    if kind != "glance":
        return None
    auth_plugins = sys.modules.get("keystoneauth1.exceptions.auth_plugins")
    if auth_plugins is None or not isinstance(exc, auth_plugins.AuthPluginException):
        return None
    reason = " ".join(str(exc).split())
    return ConfigurationError(
        f"no usable OpenStack credentials: {reason} (set OS_CLOUD to a clouds.yaml entry, or "
        f'the OS_* variables such as OS_AUTH_URL, or the key cloud = "..." in '
        f"{DEFAULT_CONFIG[kind]} or ${CONFIG_ENV[kind]})"
    )


def backend_command(prog: str, kind: str, argv: Sequence[str]) -> int:
    """Run one backend command: handle the event in the environment, or ``--list``."""
    args = parse_with_settings(_parser(prog, kind), list(argv))
    configure_logging(args.verbose, args.quiet, args.log_config)
    try:
        return _run(kind, args)
    except Exception as exc:
        missing = _missing_credentials(kind, exc)
        if missing is not None:
            raise missing from None
        raise


def _run(kind: str, args: argparse.Namespace) -> int:
    backend, defer = make_backend(
        kind, args.config, env=settings_of(args).environ, dry_run=args.dry_run
    )
    if args.list:
        for image in backend.list_images():
            print(image.describe())
        return 0
    summary = handle(backend, settings_of(args).environ, defer_retire=defer)
    for line in backend.calls.planned:
        print(f"would: {line}")
    print(summary)
    sys.stdout.flush()
    return 0
