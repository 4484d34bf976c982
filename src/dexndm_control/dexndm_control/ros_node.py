"""Run one rclpy node until it finishes or the process is told to stop.

Shared by every node of the stack so that shutdown is handled once: SIGINT/SIGTERM (they end the
spin loop; the node's close() runs while its context is still valid), a node that declares itself
finished, and exceptions — which are logged and turn into a non-zero exit status instead of a
hung executor.
"""

from __future__ import annotations

import inspect
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

from dexndm_control.lifeline import follow_launcher
from dexndm_control.ros_env import apply_default_ros_env
from dexndm_control.stop_request import StopRequest


def run_node(factory: Callable[[], object], argv: Sequence[str] | None = None,
             events_executor: bool = False) -> int:
    """Create the node with ``factory`` after rclpy.init and spin it; return the exit status.

    ``events_executor`` selects rclpy's EventsExecutor (several times the message throughput of
    the SingleThreadedExecutor). It never returns from spin if a callback raises, so nodes that use
    it must not let exceptions escape their callbacks (see ``guarded``).

    The node may define ``finished`` (bool) and ``exit_code`` (int) to end the process itself,
    and ``close()`` for work that must happen on every shutdown path (e.g. torque off, bag close).
    """
    apply_default_ros_env()
    follow_launcher()
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    # SIGINT/SIGTERM end the spin loop here instead of shutting the context down under the node:
    # close() then still has its publishers and rosout (final events, "torque off" in the log)
    stop = StopRequest()  # not threading.Event: its set() may deadlock in a handler
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=list(sys.argv if argv is None else argv),
               signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = 0
    try:
        node = factory()
        if events_executor:
            from rclpy.experimental import EventsExecutor
            executor = EventsExecutor()
        else:
            executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not stop.is_set() and not getattr(node, "finished", False):
            executor.spin_once(timeout_sec=0.1)
        code = int(getattr(node, "exit_code", 0))
    except (KeyboardInterrupt, ExternalShutdownException):
        code = int(getattr(node, "exit_code", 0)) if node is not None else 0
    except Exception as error:  # noqa: BLE001 - report any failure, then shut down cleanly
        if node is not None:
            node.get_logger().fatal(f"stopping after an unexpected error: {error!r}\n"
                                    f"{traceback.format_exc()}")
        else:
            print(f"node failed to start: {error}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def guarded(node, callback: Callable) -> Callable:
    """Wrap a callback so that an exception is logged and ends the node instead of escaping.

    An exception escaping a callback hangs rclpy's EventsExecutor (it burns a core and ignores
    SIGINT/SIGTERM): this turns it into an orderly shutdown with exit status 1.
    """
    def call(*args):
        try:
            return callback(*args)
        except Exception as error:  # noqa: BLE001 - any failure must end the node cleanly
            if not node.context.ok():
                return None  # shutting down (SIGINT/SIGTERM): publishers are already gone
            node.get_logger().fatal(f"stopping after an error in a callback: {error!r}\n"
                                    f"{traceback.format_exc()}")
            node.exit_code, node.finished = 1, True
            return None

    # rclpy passes timers a TimerInfo only if the callback takes an argument: keep the arity.
    if not inspect.signature(callback).parameters:
        return lambda: call()
    return call


def declare_settings(node, cls: type, **extra):
    """Declare ``cls``'s ROS parameters on ``node`` (defaults and help from the dataclass) and
    build ``cls`` from their values; ``extra`` fills fields that are not parameters."""
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.parameter import Parameter

    from dexndm_control.settings import from_parameters, parameter_default, parameter_settings

    empty_types = {str: Parameter.Type.STRING_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                   float: Parameter.Type.DOUBLE_ARRAY, bool: Parameter.Type.BOOL_ARRAY}
    values = {}
    for name, (_, s) in parameter_settings(cls).items():
        default = parameter_default(s)
        if isinstance(default, list) and not default:  # an empty list names no element type
            default = empty_types[s.kind.scalar]
        descriptor = ParameterDescriptor(description=s.help)
        value = node.declare_parameter(name, default, descriptor).value
        values[name] = parameter_default(s) if value is None else value
    return from_parameters(cls, values, **extra)
