/* The XC330 firmware law as MuJoCo's user actuator bias (mjcb_act_bias).
 *
 * An actuator with gain 0 and biastype mjBIAS_USER outputs this bias as its force, so MuJoCo
 * evaluates the law inside every physics substep, on its own threads (mujoco.rollout) with no
 * Python in between. ctrl is the joint target (rad); the joint's position and velocity are the
 * actuator's length and velocity (joint transmission, gear 1). The parameters are the
 * actuator's biasprm, one set per actuator of each model (BIAS_* in native_law.py):
 *   0 kp (N*m/rad)   1 kd (N*m*s/rad)   2 torque limit (N*m)   3 stall torque (N*m, 0: off)
 *   4 no-load speed (rad/s)   5 gear friction share (0: off)   6 backlash half width (rad)
 *   7 position quantum (rad, 0: unquantised)   8 velocity quantum (rad/s)
 *   9 gear friction's smoothing speed (rad/s)
 * The operations and their order are those of HardwareProfile.joint_torque (profiles.py), the
 * reference this is tested against.
 */
#include <math.h>

#include <mujoco/mujoco.h>

static double sign(double x) { return (double)((x > 0) - (x < 0)); }

static double quantise(double x, double quantum) {
  return quantum > 0 ? nearbyint(x / quantum) * quantum : x;  /* round half to even, as numpy */
}

mjtNum dexndm_xc330_bias(const mjModel* m, const mjData* d, int id) {
  const mjtNum* p = m->actuator_biasprm + id * mjNBIAS;
  const mjtNum speed = d->actuator_velocity[id];
  const mjtNum target = quantise(d->ctrl[id], p[7]);
  const mjtNum q = quantise(d->actuator_length[id], p[7]);
  const mjtNum qd = quantise(speed, p[8]);
  mjtNum error = target - q;
  if (p[6] > 0) {
    error = sign(error) * fmax(fabs(error) - p[6], 0.0);
  }
  mjtNum torque = fmin(fmax(p[0] * error - p[1] * qd, -p[2]), p[2]);
  if (p[3] > 0) {
    const mjtNum direction = sign(torque);
    const mjtNum available = p[3] * (1.0 - direction * speed / p[4]);
    torque = direction * fmin(fabs(torque), fmax(available, 0.0));
  }
  if (p[5] > 0) {
    torque = torque - p[5] * fabs(torque) * tanh(speed / p[9]);
  }
  return torque;
}
