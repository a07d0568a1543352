// Saving a file from the browser: a Blob and an <a download> click. Nothing leaves the
// machine; the object URL of the previous download is released when the next one starts.
let previousUrl: string | null = null;

export function downloadFile(fileName: string, content: BlobPart, mimeType: string): void {
  if (previousUrl) URL.revokeObjectURL(previousUrl);
  const url = URL.createObjectURL(new Blob([content], { type: mimeType }));
  previousUrl = url;
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
}
