"""What the model reads when Drive or the credentials fail."""

from __future__ import annotations

import json
from typing import Any

from patchbay.retry import rate_limited_from
from patchbay.settings import SettingsError
from patchbay.untrusted import clean_untrusted
from patchbay_drive.credentials import REAUTHORIZE
from patchbay_drive.settings import DriveSettings

_REASONS = {
    "exportSizeLimitExceeded": "Drive cannot export this file: it is over Drive's 10 MB export limit. "
    "Open it in Drive, or read a smaller file.",
    "fileNotDownloadable": "Drive cannot download this file's content directly.",
    "insufficientPermissions": "The credentials lack the Drive scope for this (granted read-only?); "
    f"run `{REAUTHORIZE}` again with writes allowed.",
    "insufficientFilePermissions": "The account may not do this to the file (Drive refused: insufficient permission).",
    "storageQuotaExceeded": "The Drive storage quota is full; nothing was written.",
}


def _reason(exc: Any) -> tuple[str, str]:
    """Google's reason code and message from an `HttpError`."""
    try:
        error = json.loads(exc.content).get("error", {})
    except (ValueError, AttributeError):
        return "", ""
    details = error.get("errors") or [{}]
    return str(details[0].get("reason", "")), str(error.get("message", ""))


def drive_errors(exc: BaseException) -> str | None:
    """An error mapper: Drive's HTTP errors and connection failures, in a sentence."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    limited = rate_limited_from(exc, "Google Drive")
    if limited is not None:
        return str(limited)
    if "HttpError" in names and hasattr(exc, "resp"):
        status = int(getattr(exc.resp, "status", 0))
        reason, message = _reason(exc)
        if reason in _REASONS:
            return _REASONS[reason]
        if status == 401:
            return f"Google rejected the credentials (HTTP 401); run `{REAUTHORIZE}` to sign in again."
        if status == 404:
            return "No such file in Drive, or the account cannot see it."
        if status >= 500:
            return f"Google Drive could not answer (HTTP {status}); try again later."
        return f"Google Drive refused the request (HTTP {status}: {clean_untrusted(message)[:300]})."
    if "BadWorkbook" in names:
        return f"Drive's spreadsheet export could not be read ({exc}); read it in Drive instead."
    if "HttpLib2Error" in names or isinstance(exc, ConnectionError | TimeoutError):
        return "Could not reach Google Drive (the connection failed or timed out); try again later."
    return None


def settings_error(settings: DriveSettings, exc: Exception) -> SettingsError:
    """A credentials file that cannot be used, as a start-up error naming the setting."""
    return SettingsError(
        f"cannot use the Google credentials ({type(exc).__name__}: {str(exc)[:200]}); check "
        f"{settings.env_name('service_account_file')} / GOOGLE_APPLICATION_CREDENTIALS, or run `{REAUTHORIZE}`"
    )
