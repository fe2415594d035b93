/**
 * Turns a byte stream into lines: UTF-8 decoded across chunk boundaries, "\r\n" trimmed,
 * very long lines cut into pieces so one runaway line cannot hold the memory.
 */
import { StringDecoder } from 'node:string_decoder';

export const MAX_LINE_CHARS = 16 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  write(chunk: Buffer): void {
    this.take(this.decoder.write(chunk));
  }

  /** Emits what is left (a last line without a newline). */
  end(): void {
    this.take(this.decoder.end());
    if (this.partial !== '') this.emit(this.partial);
    this.partial = '';
  }

  private take(text: string): void {
    if (text === '') return;
    let rest = this.partial + text;
    let nl: number;
    while ((nl = rest.indexOf('\n')) !== -1) {
      this.emit(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
    while (rest.length > MAX_LINE_CHARS) {
      this.onLine(rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.partial = rest;
  }

  private emit(line: string): void {
    const clean = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (let i = 0; i < clean.length || i === 0; i += MAX_LINE_CHARS) {
      this.onLine(clean.slice(i, i + MAX_LINE_CHARS));
      if (clean.length === 0) break;
    }
  }
}
