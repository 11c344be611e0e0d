"""FastCar: CarRacing's car with the same physics, computed with fewer Python and NumPy calls.

Gymnasium's :class:`~gymnasium.envs.box2d.car_dynamics.Car` spends most of a physics step in Python:
``np.sign``, ``np.sqrt``/``np.square`` on scalars, ``np.clip`` in ``gas`` and repeated Box2D attribute
lookups. :class:`FastCar` does the same arithmetic, in the same order, with plain floats and each Box2D
value read once, so it produces bit-for-bit the same trajectories (``tests/test_car.py`` checks this
against ``Car`` on long random drives). Drawing, particles and every attribute are unchanged.
"""

from __future__ import annotations

import math

from gymnasium.envs.box2d.car_dynamics import ENGINE_POWER, FRICTION_LIMIT, SIZE, WHEEL_MOMENT_OF_INERTIA, Car

__all__ = ["FastCar"]

_GRASS_LIMIT = FRICTION_LIMIT * 0.6
_FORCE_K = 205000 * SIZE * SIZE
_FORW = (0, 1)
_SIDE = (1, 0)


class FastCar(Car):
    """:class:`Car` with the same results and a cheaper ``gas`` and ``step``."""

    def gas(self, gas):
        """Rear-wheel drive, ``gas`` clipped to [0, 1]; each call raises a wheel's gas by at most 0.1."""
        gas = 0.0 if gas < 0 else (1.0 if gas > 1 else gas)
        for w in self.wheels[2:4]:
            diff = gas - w.gas
            if diff > 0.1:
                diff = 0.1  # gradually increase, but stop immediately
            w.gas += diff

    def step(self, dt):
        """One physics step of the wheels: steering motors, engine, brakes and tyre friction forces."""
        power = dt * ENGINE_POWER
        for w in self.wheels:
            joint = w.joint
            d = w.steer - joint.angle
            sign = 1.0 if d > 0 else (-1.0 if d < 0 else 0.0)
            val = abs(d)
            m = 50.0 * val
            joint.motorSpeed = sign * (m if m < 3.0 else 3.0)

            grass = True
            friction_limit = _GRASS_LIMIT
            for tile in w.tiles:
                friction_limit = max(friction_limit, FRICTION_LIMIT * tile.road_friction)
                grass = False

            forw = w.GetWorldVector(_FORW)
            side = w.GetWorldVector(_SIDE)
            f0, f1 = forw
            s0, s1 = side
            v0, v1 = w.linearVelocity
            vf = f0 * v0 + f1 * v1
            vs = s0 * v0 + s1 * v1

            wgas = w.gas
            omega = w.omega
            omega += power * wgas / WHEEL_MOMENT_OF_INERTIA / (abs(omega) + 5.0)
            self.fuel_spent += power * wgas

            brake = w.brake
            if brake >= 0.9:
                omega = 0
            elif brake > 0:
                bdir = -1.0 if omega > 0 else (1.0 if omega < 0 else -0.0)
                bval = 15 * brake
                if abs(bval) > abs(omega):
                    bval = abs(omega)
                omega += bdir * bval
            w.phase += omega * dt

            vr = omega * w.wheel_rad
            f_force = (-vf + vr) * _FORCE_K
            p_force = -vs * _FORCE_K
            force = math.sqrt(f_force * f_force + p_force * p_force)

            if abs(force) > 2.0 * friction_limit:
                skid = w.skid_particle
                if skid and skid.grass == grass and len(skid.poly) < 30:
                    pos = w.position
                    skid.poly.append((pos[0], pos[1]))
                elif w.skid_start is None:
                    w.skid_start = w.position
                else:
                    w.skid_particle = self._create_particle(w.skid_start, w.position, grass)
                    w.skid_start = None
            else:
                w.skid_start = None
                w.skid_particle = None

            if abs(force) > friction_limit:
                f_force /= force
                p_force /= force
                force = friction_limit
                f_force *= force
                p_force *= force

            w.omega = omega - dt * f_force * w.wheel_rad / WHEEL_MOMENT_OF_INERTIA
            w.ApplyForceToCenter((p_force * s0 + f_force * f0, p_force * s1 + f_force * f1), True)
