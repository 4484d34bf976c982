from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "dexndm_learning"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=['dexndm_control', 'dexndm_sim', 'numpy', 'torch', 'tqdm', 'tensorboard',
                      'matplotlib', 'rsl-rl-lib', 'scipy'],
    zip_safe=True,
    maintainer="DexNDM stack developers",
    maintainer_email="dexndm@users.noreply.github.com",
    description=Path("package.xml").read_text().split("<description>")[1].split("</description>")[0],
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        # Subcommands of `dexndm`, found at run time so that each package adds its own commands
        # without the command-line entry point importing packages it must not depend on.
        "dexndm.commands": ["train = dexndm_learning.commands:train_command",
                            "eval = dexndm_learning.commands:eval_command",
                            "rollout = dexndm_learning.commands:rollout_command",
                            "average = dexndm_learning.commands:average_command",
                            "sim = dexndm_learning.sim_commands:sim_command",
                            "experiment = dexndm_learning.commands:experiment_command"],
    },
)
