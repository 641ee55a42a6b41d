// Validates example values against JSON Schemas with Ajv (draft 2020-12, strict mode) for
// tests/codegen_typescript.rs. The argument names a JSON file holding an array of cases,
// {"name", "schema", "value", "valid"}; every case whose outcome differs from "valid" is
// printed, and the exit code is 1 if there is any.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const ajv = new Ajv2020({ strict: true, allErrors: true });
let failures = 0;
for (const { name, schema, value, valid } of cases) {
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    failures += 1;
    console.log(`${name}: the schema does not compile: ${error.message}`);
    continue;
  }
  if (validate(value) !== valid) {
    failures += 1;
    const outcome = valid ? `rejected: ${ajv.errorsText(validate.errors)}` : "accepted";
    console.log(`${name}: ${JSON.stringify(value)} was ${outcome}`);
  }
}
console.log(`${cases.length - failures} of ${cases.length} cases as expected`);
process.exit(failures === 0 ? 0 : 1);
