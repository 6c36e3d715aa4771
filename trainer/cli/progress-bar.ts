/**
 * Training progress on stderr: a redrawn bar on a terminal, one JSON line per update otherwise (logs, CI).
 */
const BAR_WIDTH = 30;

export function progressReporter(
  stream: NodeJS.WriteStream = process.stderr,
): (stage: string, progress: number) => void {
  const started = Date.now();
  let lastLine = "";
  return (stage, progress) => {
    const p = Math.min(1, Math.max(0, progress));
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (!stream.isTTY) {
      const line = JSON.stringify({ stage, progress: Number(p.toFixed(3)), elapsed_s: Number(seconds) });
      if (line !== lastLine) stream.write(`${line}\n`);
      lastLine = line;
      return;
    }
    const filled = Math.round(p * BAR_WIDTH);
    stream.write(
      `\r[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${(p * 100).toFixed(0).padStart(3)}% ${stage.padEnd(12)} ${seconds}s`,
    );
    if (p >= 1) stream.write("\n");
  };
}
