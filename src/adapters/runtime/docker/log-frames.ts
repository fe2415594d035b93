/**
 * Docker multiplexes stdout and stderr of a container without a TTY into frames:
 * an 8-byte header (stream type, 3 zero bytes, big-endian payload length) and the payload.
 * Non-follow `logs()` hands back the raw frames as one Buffer.
 */
export interface LogFrame {
  /** 1 stdout, 2 stderr (0 stdin, never in logs). */
  readonly stream: number;
  readonly payload: Buffer;
}

const HEADER_BYTES = 8;

export function demultiplex(buffer: Buffer): LogFrame[] {
  const frames: LogFrame[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= buffer.length) {
    const stream = buffer[offset] ?? 0;
    const size = buffer.readUInt32BE(offset + 4);
    const start = offset + HEADER_BYTES;
    // A truncated last frame keeps what arrived rather than dropping it.
    const end = Math.min(start + size, buffer.length);
    frames.push({ stream, payload: buffer.subarray(start, end) });
    offset = start + size;
  }
  return frames;
}

/** True when the buffer starts like a frame stream (a TTY container's log is raw text). */
export function looksMultiplexed(buffer: Buffer): boolean {
  if (buffer.length < HEADER_BYTES) return false;
  const stream = buffer[0] ?? 255;
  return stream <= 2 && buffer[1] === 0 && buffer[2] === 0 && buffer[3] === 0;
}

/** The last `count` lines, oldest first; a trailing newline does not make an empty line. */
export function lastLines(buffer: Buffer, count: number): string[] {
  if (count <= 0) return [];
  const text = looksMultiplexed(buffer)
    ? Buffer.concat(demultiplex(buffer).map((f) => f.payload)).toString('utf8')
    : buffer.toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).slice(-count);
}
