// Validates rendered Kubernetes manifests offline (no cluster, no download), in two ways:
//  1. every object against its API schema with the validators kubernetes-models ships (types,
//     enums, required fields, formats; the Prometheus Operator's for ServiceMonitor);
//  2. no unknown field anywhere (what `kubectl apply` refuses with strict field validation): each
//     object as an object literal typed with the model's interface, type-checked by tsc, whose
//     excess-property check names any field the API does not have.
// Usage: node validate.mjs NAME=FILE.yaml...   (run from the directory holding node_modules)
// Exit status 0 when every object of every file passes; otherwise 1, each problem on stderr.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

// apiVersion → the module that holds its models. A kind outside these has no schema here and
// is an error: nothing ships unvalidated.
function modelModule(apiVersion) {
	if (apiVersion === "v1") return "kubernetes-models/v1";
	if (apiVersion.startsWith("monitoring.coreos.com/"))
		return "@kubernetes-models/prometheus-operator/" + apiVersion;
	return "kubernetes-models/" + apiVersion;
}

const problems = [];
const typed = []; // { where, module, kind, json }

for (const arg of process.argv.slice(2)) {
	const eq = arg.indexOf("=");
	const name = arg.slice(0, eq), file = arg.slice(eq + 1);
	const docs = parseAllDocuments(readFileSync(file, "utf8"));
	let n = 0;
	for (const doc of docs) {
		if (doc.errors.length) {
			problems.push(`${name}: YAML: ${doc.errors[0].message}`);
			continue;
		}
		const obj = doc.toJS();
		if (obj === null) continue;
		n++;
		const where = `${name}: ${obj.kind}/${obj.metadata?.name}`;
		if (!obj.apiVersion || !obj.kind) {
			problems.push(`${where}: no apiVersion or kind`);
			continue;
		}
		const module = modelModule(obj.apiVersion);
		let models;
		try {
			models = await import(module);
		} catch {
			problems.push(`${where}: no schema for apiVersion ${obj.apiVersion}`);
			continue;
		}
		const Model = models[obj.kind];
		if (!Model) {
			problems.push(`${where}: no schema for ${obj.kind} in ${obj.apiVersion}`);
			continue;
		}
		try {
			new Model(obj).validate();
		} catch (e) {
			problems.push(`${where}: ${e.message}`);
		}
		typed.push({ where, module, kind: obj.kind, json: JSON.stringify(obj) });
	}
	if (n === 0) problems.push(`${name}: no objects`);
}

// One declaration per line, so tsc's line number names the object.
const imports = new Map();
const lines = [];
for (const t of typed) {
	const alias = `I${t.kind}_${imports.size}`;
	const key = `${t.module}:${t.kind}`;
	if (!imports.has(key)) imports.set(key, { alias, module: t.module, kind: t.kind });
	lines.push(`export const o${lines.length}: ${imports.get(key).alias} = ${t.json};`);
}
const header = [...imports.values()].map(
	(i) => `import type { I${i.kind} as ${i.alias} } from "${i.module}";`);
const source = [...header, ...lines].join("\n") + "\n";
writeFileSync(join(here, "check.ts"), source);
writeFileSync(join(here, "tsconfig.json"), JSON.stringify({
	compilerOptions: {
		strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
		target: "es2022", skipLibCheck: true,
	},
	files: ["check.ts"],
}));
try {
	execFileSync(join(here, "node_modules/.bin/tsc"), ["-p", here], { stdio: "pipe" });
} catch (e) {
	const out = e.stdout.toString();
	for (const m of out.matchAll(/check\.ts\((\d+),\d+\): error TS\d+: (.*)/g)) {
		const line = Number(m[1]) - header.length - 1;
		problems.push(`${line >= 0 ? typed[line].where : "check.ts"}: ${m[2]}`);
	}
	if (!out.match(/error TS/)) problems.push(`tsc failed: ${out || e.message}`);
}

for (const p of problems) console.error(p);
console.log(`${typed.length} objects checked, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
