"""The MDF v2 field schema: the version written, mandatory fields and flag names.

Field names are HDF5 paths as the MDF specification (`MDF.tex`) spells them.
"""

MDF_VERSION = "2.1.0"

#: The dataset holding the measured (or calibration) frames.
DATA = "/measurement/data"

#: Fields the MDF v2 specification makes mandatory in every file.
REQUIRED_FIELDS = (
    "/version",
    "/uuid",
    "/time",
    "/study/description",
    "/study/name",
    "/study/number",
    "/study/uuid",
    "/experiment/description",
    "/experiment/isSimulation",
    "/experiment/name",
    "/experiment/number",
    "/experiment/subject",
    "/experiment/uuid",
    "/scanner/facility",
    "/scanner/manufacturer",
    "/scanner/name",
    "/scanner/operator",
    "/scanner/topology",
    "/tracer/batch",
    "/tracer/concentration",
    "/tracer/name",
    "/tracer/solute",
    "/tracer/vendor",
    "/tracer/volume",
    "/acquisition/numAverages",
    "/acquisition/numFrames",
    "/acquisition/numPeriodsPerFrame",
    "/acquisition/startTime",
    "/acquisition/drivefield/baseFrequency",
    "/acquisition/drivefield/cycle",
    "/acquisition/drivefield/divider",
    "/acquisition/drivefield/numChannels",
    "/acquisition/drivefield/phase",
    "/acquisition/drivefield/strength",
    "/acquisition/drivefield/waveform",
    "/acquisition/receiver/bandwidth",
    "/acquisition/receiver/numChannels",
    "/acquisition/receiver/numSamplingPoints",
    "/acquisition/receiver/unit",
    "/measurement/data",
    "/measurement/isBackgroundCorrected",
    "/measurement/isBackgroundFrame",
    "/measurement/isFastFrameAxis",
    "/measurement/isFourierTransformed",
    "/measurement/isFramePermutation",
    "/measurement/isFrequencySelection",
    "/measurement/isSparsityTransformed",
    "/measurement/isSpectralLeakageCorrected",
    "/measurement/isTransferFunctionCorrected",
)

#: Fields mpikeras needs in a calibration (system-matrix) file.
CALIBRATION_FIELDS = (
    "/calibration/method",
    "/calibration/size",
    "/calibration/fieldOfView",
    "/calibration/fieldOfViewCenter",
)

#: `/measurement` flags mpikeras writes as 0: it never stores data processed that way.
UNPROCESSED_FLAGS = (
    "isFramePermutation",
    "isFrequencySelection",
    "isSparsityTransformed",
    "isSpectralLeakageCorrected",
    "isTransferFunctionCorrected",
)
