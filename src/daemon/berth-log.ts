/**
 * The daemon's own messages: one line on stderr (the container log, prefixed "[berth]")
 * and, once a shipper is attached, a `berth` stream entry in the bot's logs so that
 * `berth logs` shows them next to the bot's output.
 */
import type { LogShipper } from './log-shipper.js';

export class BerthLog {
  private shipper: LogShipper | undefined;
  private readonly early: string[] = [];

  attach(shipper: LogShipper): void {
    this.shipper = shipper;
    for (const line of this.early.splice(0)) shipper.push('berth', line);
  }

  say(line: string): void {
    process.stderr.write(`[berth] ${line}\n`);
    if (this.shipper) this.shipper.push('berth', line);
    else this.early.push(line);
  }
}
