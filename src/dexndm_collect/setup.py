from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "dexndm_collect"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=['dexndm_control', 'rosbags', 'numpy', 'pyyaml'],
    zip_safe=True,
    maintainer="DexNDM stack developers",
    maintainer_email="dexndm@users.noreply.github.com",
    description=Path("package.xml").read_text().split("<description>")[1].split("</description>")[0],
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": ['recorder = dexndm_collect.nodes.recorder:main',
                            'chaos_box_collector = dexndm_collect.nodes.chaos_box_collector:main'],
        # Subcommands of `dexndm`, found at run time so that each package adds its own commands
        # without the command-line entry point importing packages it must not depend on.
        "dexndm.commands": [
            'record = dexndm_collect.commands:record_command',
            'info = dexndm_collect.commands:info_command',
            'reindex = dexndm_collect.commands:reindex_command',
            'dataset = dexndm_collect.commands:dataset_command',
            'collect = dexndm_collect.commands:collect_command',
        ],
    },
)
