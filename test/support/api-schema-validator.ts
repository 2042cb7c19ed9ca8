/**
 * Validates JSON against the API's schemas (src/api/openapi/schemas.ts) with ajv's JSON Schema
 * 2020-12 validator, for tests: the unit tests of the schemas, and integration tests that check
 * live answers (design §5: every live response is validated against its schema). The schemas'
 * `$ref`s point into `#/components/schemas/`, so they are loaded as one document under an id.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { API_SCHEMAS, type JsonSchema } from "../../src/api/openapi/schemas.js";

const DOCUMENT_ID = "https://pavise.invalid/openapi.json";

export class ApiSchemaValidator {
  readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();

  /** `schemas`: the components (default: the API's); `unicode` false counts UTF-16 units, as JavaScript's length does. */
  constructor(
    schemas: Readonly<Record<string, JsonSchema>> = API_SCHEMAS,
    options: { unicode?: boolean } = {},
  ) {
    this.ajv = new Ajv2020({ strict: true, allErrors: true, unicode: options.unicode ?? true });
    // The document holds the schemas where their $refs point; "components" is no JSON Schema keyword.
    this.ajv.addVocabulary(["components"]);
    this.ajv.addSchema({ $id: DOCUMENT_ID, components: { schemas } });
  }

  /** The validator of one component schema (compiled once). */
  validator(name: string): ValidateFunction {
    let validate = this.compiled.get(name);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOCUMENT_ID}#/components/schemas/${name}` });
      this.compiled.set(name, validate);
    }
    return validate;
  }

  /** Any schema (e.g. an operation's error schema) with refs into the components. */
  compileInline(schema: JsonSchema): ValidateFunction {
    return this.ajv.compile({
      $id: `${DOCUMENT_ID}/inline-${this.compiled.size}-${Math.random()}`,
      ...rebase(schema),
    });
  }

  /** Undefined when `value` is valid; else ajv's errors as text. */
  problems(name: string, value: unknown): string | undefined {
    const validate = this.validator(name);
    return validate(value) ? undefined : describe(validate.errors);
  }
}

/** `#/components/…` refs of an inline schema, pointed at the document. */
function rebase(schema: unknown): JsonSchema {
  return JSON.parse(
    JSON.stringify(schema).replace(/"\$ref":"#\/components\//g, `"$ref":"${DOCUMENT_ID}#/components/`),
  ) as JsonSchema;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message ?? ""}`).join("; ");
}
