"""Real-to-sim system identification: the "autotune" of paper appendix C / Algorithm 1.

Recorded joint targets are replayed open loop, from the recorded initial states, in a population
of simulated hands whose parameters differ; the set whose joint trajectories track the recording
best is kept. What is identified, per joint: PD gains (kp, kd), torque limit, Coulomb and viscous
joint friction, armature, and the mass of the link the joint moves; per hand: the command latency
(whole control steps). Everything else comes from the base profile (nominal by default).

Two stages at a fixed simulator budget (replays of the recordings by one simulated hand):

0. the latency (whole control steps) from the recordings alone: the lag at which joint motion
   starts to follow target changes (``estimate_latency``);
1. random search: parameters drawn log-uniformly from ``SEARCH_SPACE``, the base model's own
   values among them; each finger's best parameters are kept;
2. refinement at that latency, one of ``REFINERS``:
   - "least_squares" (default): scipy's trust-region least squares on the tracking errors
     themselves, with a Jacobian from finite differences computed in the population's hands in
     parallel (a free hand's fingers are independent, so 29 hands give all 112 columns);
   - "cma": one CMA-ES (the ``cma`` package) per finger or per joint, all sampled together in
     the same simulated hands, each told its own joints' tracking error;
   - "random": the same budget spent on more random samples (the baseline).
   docs/sysid.md compares them at equal budget.

The assembled set is evaluated as a whole at the end, and on recordings held out from the
search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import mujoco
import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES, LOWER, NUM_JOINTS, UPPER
from dexndm_control.rotations import quat_to_matrix
from dexndm_sim.hand_batch import HandBatch
from dexndm_sim.native.law import set_law_gains
from dexndm_sim.profiles import HardwareProfile
from dexndm_sim.scene import SceneConfig
from dexndm_sim.sim_hand import SimHand


class SysidError(DexndmError):
    """Recordings or settings system identification cannot work with."""


# Per-joint parameters and their search bounds (log-uniform); SI units, mass as a scale on the
# base model's link mass. The bounds hold the model's values and the stand-in's spread widely,
# except the armature: scaling a joint's gains, torque limit, friction, armature and link mass
# by the same factor leaves its motion unchanged (only the neighbours' inertia breaks the tie),
# so one of them must be pinned for the others to mean anything (PINNED). The armature is the
# motor's reflected rotor inertia, a datasheet constant that dominates a LEAP finger link's
# inertia (docs/notes/xc330-actuator.md: 0.0014-0.0015 kg*m^2); its range is used when it is
# searched (``pinned=()``).
SEARCH_SPACE: dict[str, tuple[float, float]] = {
    "kp": (0.5, 10.0),  # N*m/rad
    "kd": (0.005, 0.5),  # N*m*s/rad
    "torque_limit": (0.1, 1.0),  # N*m
    "frictionloss": (1e-4, 0.1),  # N*m
    "damping": (1e-3, 0.2),  # N*m*s/rad
    "armature": (1.2e-3, 1.8e-3),  # kg*m^2
    "mass_scale": (0.5, 2.0),
}
PARAMETERS = tuple(SEARCH_SPACE)
# held at the base profile's values (see SEARCH_SPACE: one parameter must fix the scale)
PINNED = ("armature",)
LATENCIES = (0, 1, 2, 3)
_LOW = np.log([bounds[0] for bounds in SEARCH_SPACE.values()])
_HIGH = np.log([bounds[1] for bounds in SEARCH_SPACE.values()])


def to_values(unit: np.ndarray) -> np.ndarray:
    """Search coordinates in [0, 1] (log scale) -> parameter values, [..., len(PARAMETERS)]."""
    return np.exp(_LOW + np.clip(unit, 0.0, 1.0) * (_HIGH - _LOW))


def to_unit(values: np.ndarray) -> np.ndarray:
    return np.clip((np.log(values) - _LOW) / (_HIGH - _LOW), 0.0, 1.0)


@dataclass
class Recording:
    """One open-loop replay to match: q[0] is the initial state, a[k] the target sent after
    q[k] was read (the transition-shard convention), gravity from the wrist."""

    q: np.ndarray  # [T + 1, 16]
    a: np.ndarray  # [T, 16]
    wrist_quat: np.ndarray  # w, x, y, z

    @property
    def steps(self) -> int:
        return len(self.a)


@dataclass(frozen=True)
class Candidate:
    """Per-joint parameter values [16, len(PARAMETERS)] and the latency: whole control steps,
    then the physics substep (0-5) within the step from which a new target acts."""

    values: np.ndarray
    latency: int
    substeps: int = 0

    def with_values(self, values: np.ndarray) -> Candidate:
        return replace(self, values=values)

    def with_delay(self, latency: int, substeps: int) -> Candidate:
        return replace(self, latency=latency, substeps=substeps)


@dataclass
class SearchResult:
    best: Candidate
    cost: np.ndarray  # [16] per-joint tracking MSE (rad^2) of ``best`` on the search recordings
    history: list[dict]  # per generation: stage, evaluations, best total cost so far
    evaluations: int  # simulator budget: replays of the recording set by one hand
    seconds: float


class Replayer:
    """K free hands that replay recordings open loop with per-hand parameters."""

    def __init__(self, base: HardwareProfile, population: int, threads: int = 0) -> None:
        # the base fixes the model's structure: MuJoCo position actuators (nominal), or the
        # XC330 firmware law with its quantised readings and backlash (real:effects=false)
        self.base = replace(base, latency_steps=0)  # latency is applied to the targets here
        self.wrist = np.array([1.0, 0.0, 0.0, 0.0])
        hands = [SimHand(SceneConfig(tuple(self.wrist), self.base, "fast", state_sensors=True))
                 for _ in range(population)]
        self.batch = HandBatch(hands, threads)
        model = hands[0].model
        self._dofs = hands[0].scene.dof_index
        joints = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINT_NAMES]
        self.link_bodies = np.array([model.jnt_bodyid[j] for j in joints])
        self.link_names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b)
                           for b in self.link_bodies]
        self.link_mass = model.body_mass[self.link_bodies].copy()  # the base model's, kg
        self._inertia = model.body_inertia[self.link_bodies].copy()
        self.steps = 0  # control steps simulated (all hands)

    @property
    def population(self) -> int:
        return len(self.batch.hands)

    def base_values(self) -> np.ndarray:
        p = self.base
        return np.stack([p.kp, p.kd, p.torque_limit, p.frictionloss, p.damping, p.armature,
                         np.ones(NUM_JOINTS)], axis=1)

    def apply(self, row: int, values: np.ndarray) -> None:
        hand = self.batch.hands[row]
        model = hand.model
        kp, kd, limit, coulomb, viscous, armature, scale = values.T
        if self.base.actuation == "xc330":  # the law's parameters, in each hand's model
            set_law_gains(model, kp, kd, limit)
        else:
            model.actuator_gainprm[:NUM_JOINTS, 0] = kp
            model.actuator_biasprm[:NUM_JOINTS, 1] = -kp
            model.actuator_biasprm[:NUM_JOINTS, 2] = -kd
            model.actuator_forcerange[:NUM_JOINTS] = np.stack([-limit, limit], axis=1)
        model.dof_frictionloss[self._dofs] = coulomb
        model.dof_damping[self._dofs] = viscous
        model.dof_armature[self._dofs] = armature
        model.body_mass[self.link_bodies] = self.link_mass * scale
        model.body_inertia[self.link_bodies] = self._inertia * scale[:, None]
        mujoco.mj_setConst(model, hand.data)

    def replay(self, candidates: Sequence[Candidate], recordings: Sequence[Recording],
               errors: bool = False) -> np.ndarray:
        """Per-candidate, per-joint mean squared tracking error over ``recordings``: [n, 16];
        with ``errors``, the tracking errors themselves: [n, recorded steps, 16]."""
        n = len(candidates)
        if n > self.population:
            raise ValueError(f"{n} candidates for {self.population} simulated hands")
        self.batch.switch[:] = 0
        for row, candidate in enumerate(candidates):
            self.apply(row, candidate.values)
            self.batch.switch[row] = candidate.substeps
        latency = np.array([c.latency for c in candidates] +
                           [0] * (self.population - n))
        squared = np.zeros((self.population, NUM_JOINTS))
        count = 0
        trace: list[np.ndarray] = []
        for recording in recordings:
            self._set_gravity(recording.wrist_quat)
            start = np.clip(recording.q[0], LOWER, UPPER)
            for row, hand in enumerate(self.batch.hands):
                hand.reset(start)
                self.batch.sync(row)
            # what acts at step t is a[t - latency]; before that, the hold target q[0]
            padded = np.concatenate([np.repeat(start[None], max(LATENCIES), 0), recording.a])
            index = np.arange(recording.steps)[None, :] + max(LATENCIES) - latency[:, None]
            targets = padded[index]  # [K, T, 16]
            for t in range(recording.steps):
                self.batch.step(targets[:, t])
                error = self.batch.q[:n] - recording.q[t + 1]
                squared[:n] += error ** 2
                if errors:
                    trace.append(error)
            count += recording.steps
            self.steps += recording.steps * self.population
        if errors:
            return np.stack(trace, axis=1)
        return squared[:n] / max(count, 1)

    def traces(self, candidate: Candidate, recording: Recording) -> np.ndarray:
        """The joint trajectory [T + 1, 16] one candidate gives for one recording."""
        self.apply(0, candidate.values)
        self._set_gravity(recording.wrist_quat)
        hand = self.batch.hands[0]
        kp, kd, limit = (tuple(float(v) for v in column) for column in candidate.values.T[:3])
        hand.profile = replace(self.base, latency_substeps=candidate.substeps, kp=kp, kd=kd,
                               torque_limit=limit)
        start = np.clip(recording.q[0], LOWER, UPPER)
        hand.reset(start)
        padded = np.concatenate([np.repeat(start[None], candidate.latency, 0), recording.a])
        out = [hand.q]
        for t in range(recording.steps):
            hand.control_step(padded[t])
            out.append(hand.q)
        hand.profile = self.base
        return np.array(out)

    def _set_gravity(self, wrist_quat: np.ndarray) -> None:
        # a free hand at wrist R_w under gravity g is this hand (palm R_0) under R_0 R_w^T g
        gravity = quat_to_matrix(self.wrist) @ quat_to_matrix(np.asarray(wrist_quat)).T @ \
            np.array([0.0, 0.0, -9.81])
        for hand in self.batch.hands:
            hand.model.opt.gravity[:] = gravity

    def close(self) -> None:
        self.batch.close()


def latency_scores(recordings: Sequence[Recording], lags: int = len(LATENCIES) + 1
                   ) -> np.ndarray:
    """Correlation between target changes and joint motion ``lag`` control steps later, over
    all recordings and joints: [lags]. A target that acts ``d`` steps late moves nothing before
    lag ``d`` (correlation ~0) and the joints from lag ``d`` on."""
    numerator, target_energy, motion_energy = np.zeros(lags), np.zeros(lags), np.zeros(lags)
    for recording in recordings:
        # change[t] = a[t] - a[t-1] (before a[0]: the held start), motion[t] = q[t+1] - q[t]
        change = np.diff(np.concatenate([recording.q[:1], recording.a]), axis=0)
        motion = np.diff(recording.q, axis=0)
        for lag in range(lags):
            x, y = change[:len(change) - lag], motion[lag:]
            numerator[lag] += float((x * y).sum())
            target_energy[lag] += float((x * x).sum())
            motion_energy[lag] += float((y * y).sum())
    return numerator / np.sqrt(np.maximum(target_energy * motion_energy, 1e-30))


def estimate_latency(recordings: Sequence[Recording]) -> int:
    """Time-delay estimation from the data alone: in each recording, the first lag at which the
    joints follow the targets (correlation above half its peak); the most common such lag.
    Per recording, because a saturated move spreads its response over several steps and would
    outweigh the crisp onset of small moves in a pooled correlation (docs/sysid.md)."""
    onsets = []
    for recording in recordings:
        scores = latency_scores([recording])
        onsets.append(int(np.flatnonzero(scores > 0.5 * scores.max())[0]))
    counts = np.bincount(onsets)
    return min(int(np.argmax(counts)), max(LATENCIES))  # argmax: the smaller lag on a tie


REFINERS = ("least_squares", "cma", "random")


def _steps(recordings: Sequence[Recording]) -> int:
    return sum(r.steps for r in recordings)


GROUPS = {
    # one search per joint: small (7 dimensions), but a joint's error also moves with its
    # finger neighbours' parameters, which the other searches vary at the same time
    "joint": [[j] for j in range(NUM_JOINTS)],
    # one search per finger (28 dimensions): a free hand's fingers do not touch one another
    # (self-collision is off in the fast preset, the palm is fixed), so each finger's tracking
    # depends on its own four joints only and the four searches are exactly independent
    "finger": [list(range(f * 4, f * 4 + 4)) for f in range(4)],
}


def search(replayer: Replayer, recordings: Sequence[Recording], random_generations: int,
           refine_generations: int, refine: str = "least_squares", seed: int = 0,
           on_generation: Callable[[dict], None] | None = None, grouping: str = "joint",
           sigma: float = 0.15, pinned: Sequence[str] = PINNED,
           latency: int | None = None) -> SearchResult:
    """Stage 1 (random) then stage 2 (``refine``): "least_squares" (``refine_generations``
    iterations, each about one population's worth of replays), or "cma" / "random"
    (``refine_generations`` populations, one search per group of joints, ``grouping``:
    "finger" or "joint"); see the module doc."""
    if refine not in REFINERS:
        raise SysidError(f"refine must be one of {', '.join(REFINERS)}, got '{refine}'")
    if grouping not in GROUPS:
        raise SysidError(f"grouping must be one of {', '.join(GROUPS)}, got '{grouping}'")
    if random_generations < 1:
        raise SysidError("at least one random generation is needed (it starts the refinement)")
    chosen = estimate_latency(recordings) if latency is None else latency
    groups = GROUPS[grouping]
    rng = np.random.default_rng(seed)
    k, dims = replayer.population, len(PARAMETERS)
    base_unit = to_unit(replayer.base_values())
    free = np.array([i for i, name in enumerate(PARAMETERS) if name not in pinned])

    def sample(count: int) -> np.ndarray:  # [count, 16, P], pinned parameters at the base's
        unit = np.broadcast_to(base_unit, (count, NUM_JOINTS, dims)).copy()
        unit[..., free] = rng.uniform(size=(count, NUM_JOINTS, len(free)))
        return unit

    started = time.perf_counter()
    history: list[dict] = []
    steps_before = replayer.steps

    def spent() -> int:
        """Simulator budget so far, in replays of the whole recording set by one hand (every
        hand of the batch steps, whether it holds a candidate or not)."""
        return (replayer.steps - steps_before) // _steps(recordings)

    def record(stage: str, best_total: float) -> None:
        entry = {"stage": stage, "generation": len(history), "evaluations": spent(),
                 "best_total_mse": best_total, "seconds": time.perf_counter() - started}
        history.append(entry)
        if on_generation is not None:
            on_generation(entry)

    def group_costs(cost: np.ndarray) -> np.ndarray:  # [K, 16] -> [K, groups]
        return np.stack([cost[:, g].sum(axis=1) for g in groups], axis=1)

    # stage 1: random search over every parameter at the latency; each group's best
    best_unit = np.zeros((NUM_JOINTS, dims))
    best_cost = np.full(len(groups), np.inf)
    for generation in range(random_generations):
        unit = sample(k)
        if generation == 0:  # the model's own values compete too: the search never ends worse
            unit[0] = base_unit
        cost = group_costs(replayer.replay([Candidate(to_values(u), chosen) for u in unit],
                                           recordings))
        _keep_better(best_unit, best_cost, unit, cost, groups)
        record("random", float(best_cost.sum()))

    # the delay within a step: the stage-1 best under each delay around the onset
    start, cost = scan_delay(replayer, recordings, Candidate(to_values(best_unit), chosen))
    record("delay", cost)
    if refine == "least_squares":
        best = refine_least_squares(replayer, recordings, start, refine_generations,
                                    lambda mse: record(refine, mse), pinned=pinned)
        rescanned, cost = scan_delay(replayer, recordings, best)
        if (rescanned.latency, rescanned.substeps) != (best.latency, best.substeps):
            # the refined parameters prefer another delay: refine a little more there
            record("delay", cost)
            best = refine_least_squares(replayer, recordings, rescanned,
                                        max(3, refine_generations // 4),
                                        lambda mse: record(refine, mse), pinned=pinned)
        final = replayer.replay([best], recordings)[0]
        return SearchResult(best, final, history, spent(), time.perf_counter() - started)

    # stage 2: one search per group at the chosen latency
    if refine == "cma":
        import cma

        strategies = [cma.CMAEvolutionStrategy(
            best_unit[g][:, free].ravel(), sigma,
            {"popsize": k, "bounds": [0.0, 1.0], "verbose": -9,
             "seed": int(rng.integers(1, 2**31 - 1))})
            for g in groups]
    for _ in range(refine_generations):
        if refine == "cma":
            unit = np.broadcast_to(base_unit, (k, NUM_JOINTS, dims)).copy()
            for g, es in zip(groups, strategies, strict=True):
                block = unit[:, g]
                block[..., free] = np.array(es.ask()).reshape(k, len(g), len(free))
                unit[:, g] = block
        else:
            unit = sample(k)
        cost = group_costs(replayer.replay([start.with_values(to_values(u)) for u in unit],
                                           recordings))
        if refine == "cma":
            for index, (g, es) in enumerate(zip(groups, strategies, strict=True)):
                es.tell(list(unit[:, g][..., free].reshape(k, -1)), list(cost[:, index]))
        _keep_better(best_unit, best_cost, unit, cost, groups)
        record(refine, float(best_cost.sum()))
    best = start.with_values(to_values(best_unit))
    final = replayer.replay([best], recordings)[0]  # the assembled set, evaluated as a whole
    return SearchResult(best, final, history, spent(), time.perf_counter() - started)


def scan_delay(replayer: Replayer, recordings: Sequence[Recording],
               candidate: Candidate) -> tuple[Candidate, float]:
    """``candidate`` at the delay that tracks best, and its summed per-joint MSE, among whole-step
    latency - 1 + 1 substep up to latency + 5 substeps (the onset estimate is the first whole
    step in which the joints move)."""
    delays = [(candidate.latency - 1, s) for s in range(1, 6) if candidate.latency >= 1]
    delays += [(candidate.latency, s) for s in range(6)]
    delays = delays[-replayer.population:]  # a small population scans the later delays
    cost = replayer.replay([candidate.with_delay(d, s) for d, s in delays], recordings).sum(1)
    best = int(np.argmin(cost))
    return candidate.with_delay(*delays[best]), float(cost[best])


def refine_least_squares(replayer: Replayer, recordings: Sequence[Recording],
                         start: Candidate, iterations: int,
                         on_iteration: Callable[[float], None] | None = None,
                         step: float = 0.01, pinned: Sequence[str] = PINNED) -> Candidate:
    """Trust-region least squares (scipy's ``least_squares``) on the tracking errors themselves,
    from ``start`` at its latency. The Jacobian comes from finite differences computed in the
    simulated hands in parallel: one parameter of one joint slot is nudged in every finger at
    once (a free hand's fingers are independent), so 28 nudged hands + 1 give the whole
    block-diagonal Jacobian of the 16 x 7 parameters."""
    from scipy.optimize import least_squares

    free = [i for i, name in enumerate(PARAMETERS) if name not in pinned]
    dims = len(free)
    slots = [(slot, p) for slot in range(4) for p in range(dims)]
    if replayer.population < len(slots) + 1:
        raise SysidError(f"least-squares refinement needs >= {len(slots) + 1} simulated hands "
                         f"(--population), got {replayer.population}")
    start_unit = to_unit(start.values)
    cache: dict[bytes, np.ndarray] = {}

    def values(x: np.ndarray) -> np.ndarray:  # free coordinates -> all parameter values
        unit = start_unit.copy()
        unit[:, free] = x.reshape(NUM_JOINTS, dims)
        return to_values(unit)

    def errors(points: list[np.ndarray]) -> np.ndarray:  # [n, steps, 16]
        return replayer.replay([start.with_values(values(x)) for x in points], recordings,
                               errors=True)

    def residual(x: np.ndarray) -> np.ndarray:
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = errors([x])[0]
            if on_iteration is not None:
                on_iteration(float(np.mean(cache[key] ** 2) * NUM_JOINTS))
        return cache[key].ravel()

    def jacobian(x: np.ndarray) -> np.ndarray:
        base = residual(x).reshape(-1, NUM_JOINTS)
        unit = x.reshape(NUM_JOINTS, dims)
        nudged, deltas = [], []
        for slot, p in slots:
            joints = [finger * 4 + slot for finger in range(4)]
            u = unit.copy()
            delta = np.where(u[joints, p] + step <= 1.0, step, -step)
            u[joints, p] += delta
            nudged.append(u.ravel())
            deltas.append(delta)
        moved = errors(nudged)  # [len(slots), steps, 16]
        jac = np.zeros((base.size, NUM_JOINTS * dims))
        rows = np.arange(base.shape[0]) * NUM_JOINTS
        for index, (slot, p) in enumerate(slots):
            for finger in range(4):
                joint_columns = range(finger * 4, finger * 4 + 4)
                column = (finger * 4 + slot) * dims + p
                change = (moved[index][:, joint_columns] - base[:, joint_columns]) / \
                    deltas[index][finger]
                for offset, joint in enumerate(joint_columns):
                    jac[rows + joint, column] = change[:, offset]
        return jac

    x0 = start_unit[:, free].ravel()
    result = least_squares(residual, x0, jac=jacobian, bounds=(0.0, 1.0), method="trf",
                           max_nfev=iterations, x_scale="jac")
    return start.with_values(values(result.x))


def _keep_better(best_unit: np.ndarray, best_cost: np.ndarray, unit: np.ndarray,
                 cost: np.ndarray, groups: list[list[int]]) -> None:
    """Per group, take the candidate row with the lowest cost if it beats the one held."""
    for index, g in enumerate(groups):
        row = int(np.argmin(cost[:, index]))
        if cost[row, index] < best_cost[index]:
            best_unit[g], best_cost[index] = unit[row, g], cost[row, index]


def identified_profile(replayer: Replayer, candidate: Candidate,
                       name: str = "identified") -> HardwareProfile:
    kp, kd, limit, coulomb, viscous, armature, scale = (tuple(float(v) for v in column)
                                                        for column in candidate.values.T)
    masses = {body: float(m * s) for body, m, s in zip(replayer.link_names, replayer.link_mass,
                                                       scale, strict=True)}
    base = replayer.base
    return replace(base, name=name, kp=kp, kd=kd, torque_limit=limit, frictionloss=coulomb,
                   damping=viscous, armature=armature, latency_steps=candidate.latency,
                   latency_substeps=candidate.substeps,
                   link_masses={**base.link_masses, **masses})


def profile_values(profile: HardwareProfile, replayer: Replayer) -> Candidate:
    """A profile's per-joint values in the search's terms (to score it, or compare to it)."""
    masses = [profile.link_masses.get(name, base) for name, base in
              zip(replayer.link_names, replayer.link_mass, strict=True)]
    scale = np.asarray(masses) / replayer.link_mass
    values = np.stack([profile.kp, profile.kd, profile.torque_limit, profile.frictionloss,
                       profile.damping, profile.armature, scale], axis=1)
    return Candidate(values, profile.latency_steps, profile.latency_substeps)


# -- recordings, the whole run, and its report --------------------------------------------------


def load_recordings(paths: Sequence[str], max_steps: int, wrist: str | None = None
                    ) -> list[Recording]:
    """Free-hand episodes of transition shards (files or directories) as recordings, each cut to
    its first ``max_steps`` (a replay starts from rest, as the recorded episode did). The wrist
    comes from ``wrist`` when given, else the episode's ``wrist_quat`` or canonical
    ``wrist_label``."""
    from dexndm_control.transitions import ShardError, read_shard, shard_files
    from dexndm_sim.wrist import CANONICAL

    try:
        files = shard_files(paths)
    except ShardError as error:
        raise SysidError(str(error)) from None
    if wrist is not None and wrist not in CANONICAL:
        raise SysidError(f"--wrist must be one of {', '.join(CANONICAL)}")
    recordings = []
    for file in files:
        for index, episode in enumerate(read_shard(file).episodes):
            meta = episode.meta
            if wrist is not None:
                quat = CANONICAL[wrist]
            elif "wrist_quat" in meta:
                quat = meta["wrist_quat"]
            elif meta.get("wrist_label") in CANONICAL:
                quat = CANONICAL[meta["wrist_label"]]
            else:
                raise SysidError(f"{file} episode {index} says neither wrist_quat nor a "
                                 "canonical wrist_label: pass --wrist (the hand's mounting)")
            steps = min(max_steps, len(episode.a))
            recordings.append(Recording(episode.q[:steps + 1].astype(float),
                                        episode.a[:steps].astype(float), np.asarray(quat)))
    return recordings


def split_recordings(recordings: list[Recording], holdout: float, seed: int
                     ) -> tuple[list[Recording], list[Recording]]:
    """(search, held out): a seeded share of the recordings is kept out of the search."""
    if len(recordings) < 2:
        raise SysidError("identification needs at least 2 recordings (one is held out)")
    order = np.random.default_rng(seed).permutation(len(recordings))
    held = max(1, int(round(holdout * len(recordings))))
    return [recordings[i] for i in order[held:]], [recordings[i] for i in order[:held]]


def rms_per_joint(replayer: Replayer, candidate: Candidate,
                  recordings: Sequence[Recording]) -> np.ndarray:
    return np.sqrt(replayer.replay([candidate], recordings)[0])


def write_report(out_dir, replayer: Replayer, base: Candidate, identified: Candidate,
                 recordings: Sequence[Recording], report: dict,
                 joints: Sequence[str] = ("if_mcp", "mf_pip", "th_cmc", "rf_rot")) -> None:
    """report.json and traces.png (a held-out recording: recorded, base model, identified)."""
    import json
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    recording = recordings[0]
    before = replayer.traces(base, recording)
    after = replayer.traces(identified, recording)
    time_axis = np.arange(len(recording.q)) * 0.05
    figure, axes = plt.subplots(len(joints), 1, figsize=(8, 2.2 * len(joints)), sharex=True)
    for axis, joint in zip(axes, joints, strict=True):
        j = JOINT_NAMES.index(joint)
        axis.plot(time_axis[1:], recording.a[:, j], color="0.7", lw=1, label="target")
        axis.plot(time_axis, recording.q[:, j], "k", lw=1.5, label="recorded")
        axis.plot(time_axis, before[:, j], "tab:red", lw=1, label="base model")
        axis.plot(time_axis, after[:, j], "tab:blue", lw=1, label="identified")
        axis.set_ylabel(f"{joint} [rad]")
    axes[0].legend(loc="upper right", ncol=4, fontsize=8)
    axes[-1].set_xlabel("time [s]")
    figure.tight_layout()
    figure.savefig(out / "traces.png", dpi=90)
    plt.close(figure)


def simulate_recordings(profile: HardwareProfile, targets: Sequence[np.ndarray],
                        wrists: Sequence[np.ndarray]) -> list[Recording]:
    """Replay target sequences [T, 16] on a free simulated hand of ``profile`` (e.g. the
    ``real`` stand-in), each from rest at its first target: recordings with known parameters."""
    recordings = []
    hands: dict[tuple, SimHand] = {}
    for sequence, wrist in zip(targets, wrists, strict=True):
        key = tuple(np.round(np.asarray(wrist, dtype=float), 9))
        if key not in hands:
            hands[key] = SimHand(SceneConfig(key, profile, "fast"))
        hand = hands[key]
        sequence = np.clip(np.asarray(sequence, dtype=float), LOWER, UPPER)
        hand.reset(sequence[0])
        q = [hand.q]
        for target in sequence:
            hand.control_step(target)
            q.append(hand.q)
        recordings.append(Recording(np.array(q), sequence, np.asarray(wrist, dtype=float)))
    return recordings


def probing_targets(count: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    """Probing trajectories that excite every joint at once, in three kinds that make different
    parameters visible: small random steps around varied poses (below the torque cap: the PD
    gains and friction), large random steps (saturation: the torque limit, inertia), and smooth
    wide motion (tracking at speed: damping, latency)."""
    rng = np.random.default_rng(seed)
    middle, span = (LOWER + UPPER) / 2, (UPPER - LOWER) / 2
    sequences = []
    for index in range(count):
        kind = index % 3
        if kind == 2:
            phase = np.cumsum(rng.uniform(-1, 1, (steps, NUM_JOINTS)) * 0.15, axis=0)
            sequence = middle + 0.6 * span * np.sin(phase + rng.uniform(0, 2 * np.pi, NUM_JOINTS))
        else:
            hold = int(rng.integers(4, 10))
            levels = rng.uniform(-1, 1, (steps // hold + 1, NUM_JOINTS))
            if kind == 0:  # +-0.06 rad around a pose that moves slowly
                centre = middle + span * rng.uniform(-0.5, 0.5, NUM_JOINTS)
                sequence = centre + 0.06 * np.repeat(levels, hold, axis=0)[:steps]
            else:
                sequence = middle + 0.7 * span * np.repeat(levels, hold, axis=0)[:steps]
        sequences.append(np.clip(sequence, LOWER, UPPER))
    return sequences
