import yaml
from conftest import REPO


def test_conda_env_pins_the_same_versions_as_the_pip_requirements():
    lines = (REPO / "envs" / "requirements.txt").read_text().splitlines()
    pip_pins = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    env = yaml.safe_load((REPO / "envs" / "environment.yaml").read_text())
    conda_pins = {item for dep in env["dependencies"] if isinstance(dep, dict) for item in dep["pip"]}
    assert pip_pins == conda_pins
    assert "torch==2.14.1" in pip_pins and "torchvision==0.29.1" in pip_pins
    assert all("==" in pin for pin in pip_pins)
