"""The live 3D view of the hand (``dexndm view``): Foxglove scene messages from joint states,
served by the Foxglove SDK's WebSocket server, live from ROS or from a recorded bag."""
