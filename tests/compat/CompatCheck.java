/*
 * Avro's Java implementation as a second, independent judge of schema compatibility
 * (tests/compat/compat.py drives it). Reads tasks from stdin, one per line, tab-separated, and
 * writes one result line per task, in order:
 *
 *   compat READER_FILE WRITER_FILE
 *       -> COMPATIBLE | INCOMPATIBLE | ERROR <why>        (SchemaCompatibility)
 *   read WRITER_FILE READER_FILE DATUM_FILE
 *       -> OK <the record as Avro's toString> | ERROR <exception: message>
 *          (GenericDatumReader with schema resolution, the datum in Avro binary)
 *
 * The first line written is "avro <version>", the Avro library it runs with.
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

public final class CompatCheck {
	private CompatCheck() {
	}

	private static Schema parse(String path) throws Exception {
		byte[] text = Files.readAllBytes(Paths.get(path));
		return new Schema.Parser().parse(new String(text, StandardCharsets.UTF_8));
	}

	private static String oneLine(Throwable e) {
		String msg = e.getClass().getSimpleName() + ": " + e.getMessage();
		return msg.replace('\n', ' ').replace('\t', ' ');
	}

	private static String run(String[] task) throws Exception {
		if (task.length == 3 && task[0].equals("compat")) {
			SchemaCompatibility.SchemaPairCompatibility c =
				SchemaCompatibility.checkReaderWriterCompatibility(parse(task[1]),
										   parse(task[2]));
			boolean ok = c.getType() == SchemaCompatibilityType.COMPATIBLE;
			return ok ? "COMPATIBLE" : "INCOMPATIBLE";
		}
		if (task.length == 4 && task[0].equals("read")) {
			byte[] datum = Files.readAllBytes(Paths.get(task[3]));
			GenericDatumReader<Object> reader =
				new GenericDatumReader<>(parse(task[1]), parse(task[2]));
			BinaryDecoder in = DecoderFactory.get().binaryDecoder(datum, null);
			Object value = reader.read(null, in);
			if (!in.isEnd())
				return "ERROR\tbytes left after the datum";
			return "OK\t" + String.valueOf(value).replace('\n', ' ').replace('\t', ' ');
		}
		return "ERROR\tunknown task";
	}

	public static void main(String[] args) throws Exception {
		InputStreamReader stdin = new InputStreamReader(System.in, StandardCharsets.UTF_8);
		BufferedReader in = new BufferedReader(stdin);
		String version = Schema.class.getPackage().getImplementationVersion();
		String line;

		System.out.println("avro " + (version == null ? "unknown" : version));
		while ((line = in.readLine()) != null) {
			String result;

			try {
				result = run(line.split("\t"));
			} catch (Exception e) {
				result = "ERROR\t" + oneLine(e);
			}
			System.out.println(result);
		}
		System.out.flush();
	}
}
