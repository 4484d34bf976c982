from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "dexndm_sim"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=['dexndm_control', 'numpy', 'mujoco', 'pyyaml', 'cma', 'scipy', 'tqdm',
                      'matplotlib'],
    package_data={'dexndm_sim': ['native/*.c']},
    zip_safe=True,
    maintainer="DexNDM stack developers",
    maintainer_email="dexndm@users.noreply.github.com",
    description=Path("package.xml").read_text().split("<description>")[1].split("</description>")[0],
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": ["virtual_hand = dexndm_sim.xc330.cli:main",
                            "dexndm-virtual-hand = dexndm_sim.xc330.cli:main"],
        "dexndm.commands": ["sysid = dexndm_sim.commands:sysid_command"],
    },
)
