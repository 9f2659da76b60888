"""`mpikeras export RUN_DIR --out DIR`: a TensorFlow SavedModel for deployment."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained recovery or reconstruction model as a TensorFlow SavedModel",
        description="Write RUN_DIR/model.keras (of `mpikeras train`) as a TensorFlow SavedModel "
        "with the signature 'serve' (also 'serving_default') and a signature.json beside "
        "saved_model.pb. The exported function takes band-passed time signals in volts, "
        "divides them by the delta-sample volume (mm^3) times the training normalisation "
        "scale, runs the model and, for recovery, returns volts again; reconstruction returns "
        "the concentration image in delta-sample units. Needs TensorFlow; runs on the "
        "TensorFlow or JAX Keras backend.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `mpikeras train`")
    p.add_argument("--out", required=True, help="SavedModel directory to write")
    p.add_argument(
        "--delta-sample-volume-mm3",
        type=float,
        metavar="MM3",
        help="volume of the delta sample of the signals to be served, in mm^3 (default: that "
        "of the run's training system matrix, config.json data.source)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists and is not empty"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from mpikeras.export import SIGNATURE_FILE, export_saved_model

    out = export_saved_model(
        args.run_dir,
        args.out,
        delta_sample_volume_mm3=args.delta_sample_volume_mm3,
        overwrite=args.overwrite,
    )
    document = json.loads((out / SIGNATURE_FILE).read_text())

    def describe(specs: dict) -> str:
        return ", ".join(
            f"{name} ({', '.join('batch' if n is None else str(n) for n in spec['shape'])}) "
            f"{spec['dtype']} [{spec['unit']}]"
            for name, spec in specs.items()
        )

    print(
        f"wrote SavedModel {out} ({document['task']}; signature '{document['signature_name']}': "
        f"{describe(document['inputs'])} -> {describe(document['outputs'])}; inputs divided by "
        f"{document['scaling']['input_divisor_volt']:.6g} V) and {out / SIGNATURE_FILE}"
    )
    return 0
