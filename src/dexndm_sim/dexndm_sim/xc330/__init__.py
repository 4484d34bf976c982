"""An XC330-M288 bus emulator speaking Dynamixel Protocol 2.0 on a pty: the "virtual hand"."""
