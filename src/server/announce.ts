/** Start-up lines for people (stderr), besides the JSON log. */
export type Announce = (line: string) => void;

export const stderrAnnounce: Announce = (line) => process.stderr.write(`berth: ${line}\n`);
export const silentAnnounce: Announce = () => undefined;
