// Splits a stream of text chunks into lines, like @std/streams TextLineStream
// (JSR is unreachable here, so this stands in until @std can replace it).

/**
 * Splits a text stream into lines (`\n` or `\r\n`; a final line without a
 * newline is emitted). Shaped like @std/streams `TextLineStream` so it can
 * replace it later.
 *
 * @example
 * ```ts
 * const lines = child.stdout
 *   .pipeThrough(new TextDecoderStream())
 *   .pipeThrough(new TextLineStream());
 * ```
 */
export class TextLineStream extends TransformStream<string, string> {
  constructor() {
    // Only the newest chunk is searched, so a long line arriving in many
    // chunks (a big tool result, an image) costs linear time, not quadratic.
    let partialLine = "";
    super({
      transform(chunk, controller) {
        let lineStart = 0;
        let newline = chunk.indexOf("\n");
        while (newline !== -1) {
          const line = partialLine + chunk.slice(lineStart, newline);
          partialLine = "";
          controller.enqueue(line.endsWith("\r") ? line.slice(0, -1) : line);
          lineStart = newline + 1;
          newline = chunk.indexOf("\n", lineStart);
        }
        partialLine += chunk.slice(lineStart);
      },
      flush(controller) {
        if (partialLine !== "") controller.enqueue(partialLine);
      },
    });
  }
}
