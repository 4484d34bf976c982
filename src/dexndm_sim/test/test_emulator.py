"""The XC330 emulator against the real dynamixel-sdk, over a real pty, in its own process."""

from __future__ import annotations

import random
import select
import struct
import threading
from types import SimpleNamespace

import pytest
from dynamixel_sdk import COMM_RX_TIMEOUT, COMM_SUCCESS, GroupSyncWrite, PacketHandler, PortHandler

from conftest import wait_until
from dexndm_control.dynamixel.control_table import ALERT_BIT, MODEL_NUMBER_XC330_M288, REGISTERS
from dexndm_sim.xc330 import protocol
from dexndm_sim.xc330.server import PtyServer
from dexndm_sim.xc330.virtual_bus import PHYSICS_DT, VirtualBus

ADDR = {name: register.address for name, register in REGISTERS.items()}


@pytest.fixture
def sdk(virtual_hand):
    port_name, control = virtual_hand()
    port = PortHandler(port_name)
    assert port.openPort() and port.setBaudRate(4_000_000)
    yield port, PacketHandler(2.0), control
    port.closePort()


def test_crc_and_stuffing_match_the_sdk():
    handler = PacketHandler(2.0)
    rng = random.Random(1)
    for _ in range(20):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        assert protocol.crc16(data) == handler.updateCRC(0, list(data), len(data))
    frame = protocol.build(1, protocol.WRITE, bytes([116, 0, 0xFF, 0xFF, 0xFD, 0x00]))
    assert b"\xff\xff\xfd\xfd" in frame[7:]
    assert protocol.Parser().feed(b"\x00garbage" + frame) == [
        protocol.Packet(1, protocol.WRITE, bytes([116, 0, 0xFF, 0xFF, 0xFD, 0x00]))]


def test_ping_read_write_and_eeprom_lock(sdk):
    port, handler, control = sdk
    for motor_id in range(16):
        model, result, _ = handler.ping(port, motor_id)
        assert (result, model) == (COMM_SUCCESS, 1240)
    assert handler.write1ByteTxRx(port, 3, ADDR["operating_mode"], 5) == (COMM_SUCCESS, 0)
    assert handler.write1ByteTxRx(port, 3, ADDR["torque_enable"], 1) == (COMM_SUCCESS, 0)
    # EEPROM is locked while torque is on: access error (7), value unchanged
    assert handler.write1ByteTxRx(port, 3, ADDR["operating_mode"], 3) == (COMM_SUCCESS, 7)
    assert handler.read1ByteTxRx(port, 3, ADDR["operating_mode"])[0] == 5
    # read-only register
    assert handler.write2ByteTxRx(port, 3, ADDR["present_current"], 1)[1] == 7
    registers = control({"cmd": "state"})["registers"]
    assert registers["operating_mode"][3] == 5 and registers["torque_enable"][3] == 1


def test_sync_write_moves_the_motors_with_lag(sdk):
    port, handler, control = sdk
    for motor_id in range(16):
        handler.write1ByteTxRx(port, motor_id, ADDR["operating_mode"], 5)
        handler.write2ByteTxRx(port, motor_id, ADDR["position_p_gain"], 800)
        handler.write2ByteTxRx(port, motor_id, ADDR["position_d_gain"], 200)
        handler.write2ByteTxRx(port, motor_id, ADDR["goal_current"], 550)
        handler.write1ByteTxRx(port, motor_id, ADDR["torque_enable"], 1)
    writer = GroupSyncWrite(port, handler, ADDR["goal_position"], 4)
    for motor_id in range(16):
        writer.addParam(motor_id, list((2048 + 400).to_bytes(4, "little")))
    assert writer.txPacket() == COMM_SUCCESS
    early = handler.read4ByteTxRx(port, 7, ADDR["present_position"])[0]
    assert 2048 <= early < 2048 + 350  # not there instantly: the motor model has inertia
    # then it tracks the goal within a few ticks
    assert wait_until(lambda: abs(handler.read4ByteTxRx(port, 7, ADDR["present_position"])[0]
                                  - 2448) <= 8, 10)


def test_silent_motor_and_corrupt_replies(sdk):
    port, handler, control = sdk
    control({"cmd": "silence", "ids": [4]})
    assert handler.ping(port, 4)[1] == COMM_RX_TIMEOUT
    assert handler.ping(port, 5)[1] == COMM_SUCCESS
    control({"cmd": "silence", "ids": []})
    control({"cmd": "corrupt", "rate": 1.0})
    assert handler.ping(port, 5)[1] != COMM_SUCCESS
    control({"cmd": "corrupt", "rate": 0.0})
    assert handler.ping(port, 5)[1] == COMM_SUCCESS


def test_overload_latches_until_reboot(sdk):
    port, handler, control = sdk
    handler.write2ByteTxRx(port, 9, ADDR["position_p_gain"], 800)
    handler.write1ByteTxRx(port, 9, ADDR["torque_enable"], 1)
    control({"cmd": "overload", "id": 9})
    value, result, error = handler.read1ByteTxRx(port, 9, ADDR["hardware_error_status"])
    assert result == COMM_SUCCESS and value == 1 << 5 and error & ALERT_BIT
    assert handler.read1ByteTxRx(port, 9, ADDR["torque_enable"])[0] == 0
    assert handler.write1ByteTxRx(port, 9, ADDR["torque_enable"], 1)[1] == ALERT_BIT | 1  # refused
    assert handler.reboot(port, 9)[0] == COMM_SUCCESS
    assert handler.read1ByteTxRx(port, 9, ADDR["hardware_error_status"])[0] == 0
    # a reboot restores RAM defaults: gains are back to the factory values
    assert handler.read2ByteTxRx(port, 9, ADDR["position_p_gain"])[0] == 1100
    assert handler.write1ByteTxRx(port, 9, ADDR["torque_enable"], 1) == (COMM_SUCCESS, 0)


def test_fast_sync_read_layout():
    bus = VirtualBus()
    request = protocol.Packet(protocol.BROADCAST_ID, protocol.FAST_SYNC_READ,
                              bytes([126, 0, 10, 0]) + bytes(range(16)))
    (frame,) = bus.handle(request)
    packet = protocol.Parser().feed(frame)[0]
    assert packet.id == protocol.BROADCAST_ID and packet.instruction == protocol.STATUS
    body = packet.params
    assert len(body) == 16 * 14 - 2
    assert [body[k * 14 + 1] for k in range(16)] == list(range(16))
    # present position of motor 0 at offset error(1) + id(1) + current(2) + velocity(4)
    assert int.from_bytes(body[8:12], "little") == 2048


def test_simulated_time_falls_behind_the_bus_clock_only_after_a_stall():
    """The physics keeps up with a bus advanced in uneven slices (the emulator's loop), and a
    stalled emulator does not replay the stall: at most 0.2 s of physics per advance, and the
    state's sim_time says how much physics actually ran (what a rate is measured on)."""
    bus = VirtualBus()
    for turn in range(1, 101):
        bus.advance(turn * 0.0014)  # a loop turn of 1.4 ms: 0.4 ms left over every time
    assert bus.simulated_time == pytest.approx(0.14, abs=PHYSICS_DT)
    assert bus.time == pytest.approx(0.14, abs=PHYSICS_DT)
    bus.advance(1.14)  # a one-second stall
    assert bus.time == pytest.approx(1.14, abs=PHYSICS_DT)
    assert bus.simulated_time == pytest.approx(0.34, abs=PHYSICS_DT)


def test_torque_on_holds_the_joint_where_it_is():
    """Goal Position starts at Present Position and is set to it when torque goes on (no write
    of the goal in the same packet): a stale goal never pulls a joint across the hand."""
    bus = VirtualBus()
    present = bus.get(3, "present_position")
    assert bus.get(3, "goal_position") == present  # power-on
    bus.set(3, "goal_position", present + 700)  # a goal left from before torque went off
    torque_on = struct.pack("<HB", ADDR["torque_enable"], 1)
    assert bus.handle(protocol.Packet(3, protocol.WRITE, torque_on))
    assert bus.get(3, "goal_position") == present
    bus.handle(protocol.Packet(3, protocol.WRITE, struct.pack("<HB", ADDR["torque_enable"], 0)))
    bus.set(3, "goal_position", present + 700)
    # a write of torque already on leaves the goal alone
    bus.handle(protocol.Packet(3, protocol.WRITE, torque_on))
    bus.set(3, "goal_position", present + 5)
    bus.handle(protocol.Packet(3, protocol.WRITE, torque_on))
    assert bus.get(3, "goal_position") == present + 5


def test_the_port_comes_back_when_it_vanishes_just_before_the_wait(tmp_path, monkeypatch):
    """Unplugging (another thread) may close the pty between the serving loop taking it and
    waiting on it; the emulator must keep serving and plug the port back in."""
    import dexndm_sim.xc330.server as server_module

    server = PtyServer(VirtualBus(), tmp_path / "leap0")
    waits = {"count": 0}

    def unplugged_before_the_wait(readers, writers, errors, timeout):
        waits["count"] += 1
        if waits["count"] == 50:
            server.vanish(0.0)  # the fd in ``readers`` is closed now
        return select.select(readers, writers, errors, timeout)

    monkeypatch.setattr(server_module, "select", SimpleNamespace(select=unplugged_before_the_wait))
    serving = threading.Thread(target=server.serve, daemon=True)
    serving.start()
    try:
        assert wait_until(lambda: waits["count"] > 100, 5), "the serving loop died"
        assert serving.is_alive()
        assert wait_until(lambda: (tmp_path / "leap0").is_symlink(), 5)
        port = PortHandler(str(tmp_path / "leap0"))
        assert port.openPort() and port.setBaudRate(4_000_000)
        model, result, error = PacketHandler(2.0).ping(port, 3)
        port.closePort()
        assert (result, error, model) == (COMM_SUCCESS, 0, MODEL_NUMBER_XC330_M288)
    finally:
        server.stop()
        serving.join(5)
