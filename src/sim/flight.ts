/**
 * The simulated copter's flight: a circle around home while airborne, climbing to the
 * takeoff altitude, landing, returning home, a battery that drains while armed.
 */

/** ArduPilot's SITL home, CMAC near Canberra. */
export const HOME = { lat: -35.363262, lon: 149.165237, altMsl: 584 };
const EARTH_RADIUS_M = 6_378_137;
const CLIMB_RATE = 2.5;
const DESCENT_RATE = 1.5;
const SPEED = 5;
const CIRCLE_RADIUS = 40;

export type FlightPhase = 'ground' | 'takeoff' | 'cruise' | 'land' | 'rtl';

export class Flight {
  phase: FlightPhase = 'ground';
  altitude = 0;
  targetAltitude = 0;
  /** Angle around the circle (rad) and distance from home (m). */
  angle = 0;
  radius = 0;
  /** Degrees; the circle's tangent at angle 0 until the first step. */
  heading = 90;
  battery = 100;
  groundSpeed = 0;
  climb = 0;
  /** Seconds simulated, for the compass's wander on the ground. */
  private elapsed = 0;

  step(dt: number, armed: boolean): void {
    if (dt <= 0) return;
    if (armed) this.battery = Math.max(0, this.battery - 0.05 * dt);
    const before = this.altitude;
    switch (this.phase) {
      case 'takeoff':
      case 'cruise':
        this.altitude = Math.min(this.targetAltitude, this.altitude + CLIMB_RATE * dt);
        if (this.altitude >= this.targetAltitude) this.phase = 'cruise';
        this.radius = Math.min(CIRCLE_RADIUS, this.radius + SPEED * dt);
        this.angle += (SPEED / CIRCLE_RADIUS) * dt;
        break;
      case 'rtl':
        this.radius = Math.max(0, this.radius - SPEED * dt);
        if (this.radius === 0) this.phase = 'land';
        break;
      case 'land':
        this.altitude = Math.max(0, this.altitude - DESCENT_RATE * dt);
        if (this.altitude === 0) this.phase = 'ground';
        break;
      case 'ground':
        break;
    }
    this.climb = (this.altitude - before) / dt;
    this.groundSpeed = this.phase === 'ground' || this.phase === 'land' ? 0 : SPEED;
    this.elapsed += dt;
    // On the ground a real compass wanders a degree or two (magnetic noise, the motors' field); in flight the circle sets the heading.
    const wander = this.phase === 'ground' ? 1.2 * Math.sin(this.elapsed * 0.21) + 0.4 * Math.sin(this.elapsed * 1.3) : 0;
    this.heading = (((this.angle + Math.PI / 2) * 180) / Math.PI + wander + 360) % 360;
  }

  get airborne(): boolean {
    return this.altitude > 0.2;
  }

  get position(): { lat: number; lon: number } {
    const north = Math.cos(this.angle) * this.radius;
    const east = Math.sin(this.angle) * this.radius;
    const lat = HOME.lat + (north / EARTH_RADIUS_M) * (180 / Math.PI);
    const lon = HOME.lon + (east / (EARTH_RADIUS_M * Math.cos((HOME.lat * Math.PI) / 180))) * (180 / Math.PI);
    return { lat, lon };
  }
}
