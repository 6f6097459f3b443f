/** Hands the browser a file to save, from memory. */
export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.rel = 'noopener';
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own reference once it starts; let go of ours a little later.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/** "2025-01-31T09-05-00Z": a timestamp safe in file names on every system. */
export function fileTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}
