// A small attitude indicator: sky and ground turned by the roll and moved by the pitch,
// the aircraft fixed in the middle.
const SKY = '#4f8fd8';
const GROUND = '#8a5a2b';
/** Pixels per degree of pitch. */
const PITCH_SCALE = 1.6;

export function drawHorizon(canvas, attitude) {
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  ctx.save();
  ctx.clearRect(0, 0, w, h);
  ctx.beginPath();
  ctx.arc(w / 2, h / 2, Math.min(w, h) / 2 - 1, 0, 2 * Math.PI);
  ctx.clip();
  if (!attitude) {
    ctx.fillStyle = '#777';
    ctx.fillRect(0, 0, w, h);
    ctx.restore();
    return;
  }
  const roll = attitude.roll;
  const pitchDeg = (attitude.pitch * 180) / Math.PI;
  ctx.translate(w / 2, h / 2);
  ctx.rotate(-roll);
  ctx.translate(0, pitchDeg * PITCH_SCALE);
  ctx.fillStyle = SKY;
  ctx.fillRect(-w * 2, -h * 4, w * 4, h * 4);
  ctx.fillStyle = GROUND;
  ctx.fillRect(-w * 2, 0, w * 4, h * 4);
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 1;
  for (const deg of [-20, -10, 10, 20]) {
    const y = -deg * PITCH_SCALE;
    ctx.beginPath();
    ctx.moveTo(-w / 8, y);
    ctx.lineTo(w / 8, y);
    ctx.stroke();
  }
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(-w, 0);
  ctx.lineTo(w, 0);
  ctx.stroke();
  ctx.restore();
  // The aircraft, fixed.
  ctx.strokeStyle = '#ffd600';
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.moveTo(w * 0.25, h / 2);
  ctx.lineTo(w * 0.42, h / 2);
  ctx.lineTo(w / 2, h / 2 + 6);
  ctx.lineTo(w * 0.58, h / 2);
  ctx.lineTo(w * 0.75, h / 2);
  ctx.stroke();
}
