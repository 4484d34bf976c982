from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "dexndm_control"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    package_data={"dexndm_control.teleop": ["webxr_page.html"],
                  "dexndm_control.assets": ["leap_hand_model.yaml"],
                  "dexndm_control.view": ["view_page.html"]},
    install_requires=['pyyaml', 'numpy', 'dynamixel-sdk', 'websockets', 'scipy', 'foxglove-sdk',
                      'mcap', 'mcap-ros2-support'],
    zip_safe=True,
    maintainer="DexNDM stack developers",
    maintainer_email="dexndm@users.noreply.github.com",
    description=Path("package.xml").read_text().split("<description>")[1].split("</description>")[0],
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            'dexndm = dexndm_control.cli:main',
            'rotation_commander = dexndm_control.nodes.rotation_commander:main',
            'topic_echo = dexndm_control.nodes.topic_echo:main',
            'leap_driver = dexndm_control.nodes.leap_driver:main',
            'rotation_controller = dexndm_control.nodes.rotation_controller:main',
            'quest_bridge = dexndm_control.nodes.quest_bridge:main',
            'virtual_wrist_link = dexndm_control.nodes.virtual_wrist_link:main',
            'hand_view = dexndm_control.nodes.hand_view:main',
        ],
        # Subcommands of `dexndm`, found at run time so that each package adds its own commands
        # without the command-line entry point importing packages it must not depend on.
        "dexndm.commands": [
            'launch = dexndm_control.commands:launch_command',
            'echo = dexndm_control.commands:echo_command',
            'demo = dexndm_control.commands:demo_command',
            'quantize = dexndm_control.commands:quantize_command',
            'view = dexndm_control.commands:view_command',
        ],
    },
)
