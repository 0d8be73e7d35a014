"""The desired state: the Glue sources it reads by default and refuses without."""

from __future__ import annotations

from pathlib import Path

import pytest

from diep_portal.aws.provision import ProvisionError, desired_infrastructure
from diep_portal.aws.provision.package import REPO_ROOT


def test_the_repository_glue_script_is_the_default_source() -> None:
    real = REPO_ROOT / "etl" / "glue_job.py"
    if not real.is_file():
        pytest.skip("etl/glue_job.py is not there yet")
    desired = desired_infrastructure(triggers=[], glue_script=real)
    (script,) = [a for a in desired.artifacts if a.key == "glue/glue_job.py"]
    assert script.data == real.read_bytes()


def test_a_missing_glue_script_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="Glue job script"):
        desired_infrastructure(triggers=[], glue_script=tmp_path / "nowhere.py")
