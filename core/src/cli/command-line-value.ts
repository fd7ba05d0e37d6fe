/**
 * A value typed on the command line (`config set`, `plugins add --option`): JSON when it parses as JSON (`4`, `true`,
 * `null`, `["a"]`, `{"x":1}`, `"4"` for the string), else the text itself (`debug`, `./data/x.db`).
 */
export function parseCommandLineValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
