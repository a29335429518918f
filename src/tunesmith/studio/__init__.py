"""`tunesmith studio`: a local web app over the run directories: watch and compare runs, try models side by side,
label pairs of answers, export them as DPO/SFT data and launch training on them."""

from __future__ import annotations

from tunesmith.serve import check_port
from tunesmith.studio.app import StudioSettings, create_app
from tunesmith.studio.auth import LOOPBACK_NAMES


def run_studio(settings: StudioSettings, log=print) -> None:
    """Serve the studio until Ctrl-C."""
    import uvicorn

    check_port(settings.host, settings.port)
    if settings.host not in LOOPBACK_NAMES and not settings.password:
        log(f"warning: listening on {settings.host} without a password: anyone who can reach it can read your runs "
            "and start training (set --password or TUNESMITH_STUDIO_PASSWORD)")
    app = create_app(settings)
    log(f"tunesmith studio for {settings.root.resolve()} at http://{settings.host}:{settings.port}/ "
        f"(ratings in {settings.database_path})")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


__all__ = ["StudioSettings", "create_app", "run_studio"]
