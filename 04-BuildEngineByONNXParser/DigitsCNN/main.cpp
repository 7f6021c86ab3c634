// 04-BuildEngineByONNXParser/DigitsCNN in C++: main.py with the C++ API. nvonnxparser parses digits_cnn.onnx (the
// file main.py exported from torch: run main.py first, as command.sh does) into a fresh network for each build;
// when parsing fails, every recorded error is printed. Four builds, each with an optimization profile of 1..64
// images (opt 32): FP32 (TF32 cleared), FP16, and INT8 twice with an IInt8EntropyCalibrator2 over the training
// images (the first calibrates and writes main-cpp.cache, the second reads it and must not ask for a batch). Each
// engine runs the 360 test images in batches of up to 64; the engine inspector tells which format each convolution
// reads. The images come from `python3 digits.py digits_data.npz`, torch's logits and accuracy from
// main.reference.npz (what main.py's reference() computes), both read with include/npz.h. It prints main.py's
// table and checks and saves main.py's outputs as main.cpp.output/*.npy, which the tests compare with
// main.reference.npz.
#include "cookbookHelper.cuh"
#include "npz.h"

#include <NvOnnxParser.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <map>
#include <memory>

using namespace nvinfer1;

static char const* const kOnnxFile = "digits_cnn.onnx";          // exported by main.py
static char const* const kDataFile = "digits_data.npz";          // python3 digits.py digits_data.npz
static char const* const kReferenceFile = "main.reference.npz";  // torch's logits and accuracy
static char const* const kCacheFile = "main-cpp.cache";
static char const* const kInputName = "inputT0";                 // the names given to torch.onnx.export
static char const* const kOutputName = "logits";
static int const kSize = 28, kClasses = 10;
static int const kBatchMin = 1, kBatchOpt = 32, kBatchMax = 64; // calibration batches have kBatchOpt images
static size_t const kImageElements = static_cast<size_t>(kSize) * kSize;

enum class Precision
{
    kFP32,
    kFP16,
    kINT8
};
static char const* const kPrecisionNames[] = {"FP32", "FP16", "INT8"};

// Hands the training images to TensorRT in batches of kBatchOpt (the last incomplete batch is left out), and reads /
// writes the calibration cache. Counts the getBatch calls, so that main() can tell whether TensorRT calibrated.
class EntropyCalibrator : public IInt8EntropyCalibrator2
{
public:
    EntropyCalibrator(std::vector<float> const& images, std::string cacheFile)
        : mImages(images)
        , mCacheFile(std::move(cacheFile))
    {
        CHECK(cudaMalloc(&mDeviceBatch, kBatchOpt * kImageElements * sizeof(float)));
    }

    ~EntropyCalibrator() override
    {
        CHECK(cudaFree(mDeviceBatch));
    }

    int32_t getBatchSize() const noexcept override
    {
        return kBatchOpt;
    }

    bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override
    {
        ++mGetBatchCalls;
        size_t const start = static_cast<size_t>(mBatchesGiven) * kBatchOpt * kImageElements;
        if (nbBindings != 1 || start + kBatchOpt * kImageElements > mImages.size())
        {
            return false; // the data is exhausted: calibration ends
        }
        CHECK(cudaMemcpy(mDeviceBatch, mImages.data() + start, kBatchOpt * kImageElements * sizeof(float),
            cudaMemcpyHostToDevice));
        bindings[0] = mDeviceBatch; // names[0] is the input's name, inputT0
        ++mBatchesGiven;
        return true;
    }

    void const* readCalibrationCache(std::size_t& length) noexcept override
    {
        mCache = cookbook::loadFile(mCacheFile);
        length = mCache.size();
        if (mCache.empty())
        {
            std::cout << "  readCalibrationCache: no " << mCacheFile << ", TensorRT calibrates" << std::endl;
            return nullptr;
        }
        mCacheRead = true;
        std::cout << "  readCalibrationCache: " << length << " bytes from " << mCacheFile << ", no calibration"
                  << std::endl;
        return mCache.data();
    }

    void writeCalibrationCache(void const* cache, std::size_t length) noexcept override
    {
        cookbook::saveFile(mCacheFile, cache, length);
        std::cout << "  writeCalibrationCache: " << length << " bytes to " << mCacheFile << std::endl;
    }

    int mGetBatchCalls{0};
    bool mCacheRead{false};

private:
    std::vector<float> const& mImages;
    std::string mCacheFile;
    std::vector<char> mCache; // must stay valid while TensorRT reads it
    void* mDeviceBatch{nullptr};
    int mBatchesGiven{0};
};

// Parse the ONNX file into `network`; print every error the parser recorded when it fails.
static bool parseOnnx(nvonnxparser::IParser& parser)
{
    if (parser.parseFromFile(kOnnxFile, static_cast<int>(ILogger::Severity::kWARNING)))
    {
        return true;
    }
    for (int i = 0; i < parser.getNbErrors(); ++i)
    {
        nvonnxparser::IParserError const* error = parser.getError(i);
        std::cout << "parser error " << i << ": code " << static_cast<int>(error->code()) << ", node "
                  << error->node() << ": " << error->desc() << std::endl;
    }
    std::cerr << kOnnxFile << " did not parse (run python3 main.py first: it exports the file)" << std::endl;
    return false;
}

// A few LayerType names (the ones a parsed CNN has), the number for the others.
static std::string layerTypeName(LayerType type)
{
    switch (type)
    {
    case LayerType::kCONVOLUTION: return "CONVOLUTION";
    case LayerType::kACTIVATION: return "ACTIVATION";
    case LayerType::kPOOLING: return "POOLING";
    case LayerType::kSHUFFLE: return "SHUFFLE";
    case LayerType::kCONSTANT: return "CONSTANT";
    case LayerType::kMATRIX_MULTIPLY: return "MATRIX_MULTIPLY";
    case LayerType::kELEMENTWISE: return "ELEMENTWISE";
    case LayerType::kSHAPE: return "SHAPE";
    case LayerType::kGATHER: return "GATHER";
    case LayerType::kCONCATENATION: return "CONCATENATION";
    case LayerType::kSLICE: return "SLICE";
    default: return "LayerType " + std::to_string(static_cast<int>(type));
    }
}

// Parse, add the profile and the precision flags, build; the names of the network's convolutions go to convNames.
// batch -1: the ONNX file's dynamic batch, kBatchMin..kBatchMax images (a profile); a number: that fixed batch.
static std::vector<char> buildSerializedEngine(cookbook::Logger& logger, Precision precision,
    IInt8Calibrator* calibrator, std::vector<std::string>& convNames, int32_t batch = -1)
{
    std::unique_ptr<IBuilder> builder(createInferBuilder(logger));
    std::unique_ptr<INetworkDefinition> network(
        builder->createNetworkV2(1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH)));
    std::unique_ptr<nvonnxparser::IParser> parser(nvonnxparser::createParser(*network, logger));
    if (!parseOnnx(*parser)) // the parser owns the weights the network uses: it lives until the build is done
    {
        return {};
    }
    if (batch != -1) // a network input's shape may be changed after parsing
    {
        network->getInput(0)->setDimensions(Dims4{batch, 1, kSize, kSize});
    }
    convNames.clear();
    for (int32_t i = 0; i < network->getNbLayers(); ++i)
    {
        ILayer const* layer = network->getLayer(i);
        if (precision == Precision::kFP32 && batch == -1) // once: what the parser made of the ONNX nodes
        {
            std::cout << "    " << std::left << std::setw(16) << layerTypeName(layer->getType()) << std::right << " "
                      << layer->getName() << std::endl;
        }
        if (layer->getType() == LayerType::kCONVOLUTION)
        {
            convNames.emplace_back(layer->getName());
        }
    }
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    config->clearFlag(BuilderFlag::kTF32); // FP32 layers compute in FP32 (TF32 is on by default on Ampere and newer)
    config->setProfilingVerbosity(ProfilingVerbosity::kDETAILED); // the inspector then shows each layer's formats
    if (batch == -1)
    {
        IOptimizationProfile* profile = builder->createOptimizationProfile(); // the ONNX batch axis became -1
        profile->setDimensions(kInputName, OptProfileSelector::kMIN, Dims4{kBatchMin, 1, kSize, kSize});
        profile->setDimensions(kInputName, OptProfileSelector::kOPT, Dims4{kBatchOpt, 1, kSize, kSize});
        profile->setDimensions(kInputName, OptProfileSelector::kMAX, Dims4{kBatchMax, 1, kSize, kSize});
        config->addOptimizationProfile(profile);
    }
    if (precision == Precision::kFP16)
    {
        config->setFlag(BuilderFlag::kFP16); // allows FP16 kernels where the builder finds them faster
    }
    if (precision == Precision::kINT8)
    {
        config->setFlag(BuilderFlag::kINT8); // allows INT8 kernels, with scales from the calibrator
        config->setInt8Calibrator(calibrator);
        if (batch == -1)
        {
            IOptimizationProfile* calibration = builder->createOptimizationProfile(); // the calibration batches' shape
            for (auto selector : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX})
            {
                calibration->setDimensions(kInputName, selector, Dims4{kBatchOpt, 1, kSize, kSize});
            }
            config->setCalibrationProfile(calibration);
        }
    }
    // main.py's PRECISION_NOTE: ask for FP16 / INT8 convolutions, or the builder may time FP32 faster
    if (precision != Precision::kFP32)
    {
        config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
        for (int32_t i = 0; i < network->getNbLayers(); ++i)
        {
            ILayer* layer = network->getLayer(i);
            if (layer->getType() == LayerType::kCONVOLUTION)
            {
                layer->setPrecision(precision == Precision::kFP16 ? DataType::kHALF : DataType::kINT8);
            }
        }
    }
    std::unique_ptr<IHostMemory> serialized(builder->buildSerializedNetwork(*network, *config));
    if (!serialized || serialized->size() == 0)
    {
        return {};
    }
    char const* bytes = static_cast<char const*>(serialized->data());
    return std::vector<char>(bytes, bytes + serialized->size());
}

// The string value of the first "key" at or after `from` in a JSON text ("" if there is none): enough for the flat
// fields of the engine inspector's layer information, without a JSON library.
static std::string jsonString(std::string const& json, std::string const& key, size_t from = 0)
{
    size_t i = json.find("\"" + key + "\"", from);
    if (i == std::string::npos)
        return "";
    i = json.find_first_not_of(" \t\r\n", i + key.size() + 2);
    if (i == std::string::npos || json[i] != ':')
        return "";
    i = json.find_first_not_of(" \t\r\n", i + 1);
    if (i == std::string::npos || json[i] != '"')
        return "";
    size_t const close = json.find('"', i + 1);
    return close == std::string::npos ? "" : json.substr(i + 1, close - i - 1);
}

// True when `name` stands whole in `text`: not preceded by a letter, digit, '_' or '/', not followed by a letter,
// digit or '_'. "/conv1/Conv" is in "/conv1/Conv + /Relu", not in "/conv1/Conv_1"; "/Conv" is not in "/conv1/Conv".
static bool containsName(std::string const& text, std::string const& name)
{
    auto partOfName = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1))
    {
        size_t const end = at + name.size();
        bool const startOk = at == 0 || !(partOfName(text[at - 1]) || text[at - 1] == '/');
        bool const endOk = end == text.size() || !partOfName(text[end]);
        if (startOk && endOk)
            return true;
    }
    return false;
}

// {network convolution name: the Format/Datatype its engine layer reads} ("?" where none is found), from the engine
// inspector of an engine with static shapes (calibrator.py's inspect_convolutions): with a dynamic batch, TensorRT
// 8.6.0 reports every format as "N/A due to dynamic shapes" (seen on an H200).
static std::map<std::string, std::string> inspectConvolutions(
    ICudaEngine& engine, std::vector<std::string> const& convNames)
{
    std::unique_ptr<IEngineInspector> inspector(engine.createEngineInspector());
    std::map<std::string, std::string> formats;
    for (std::string const& conv : convNames)
        formats[conv] = "?";
    for (int32_t i = 0; i < engine.getNbLayers(); ++i)
    {
        std::string const info = inspector->getLayerInformation(i, LayerInformationFormat::kJSON);
        std::string const name = jsonString(info, "Name"), type = jsonString(info, "LayerType");
        size_t const inputs = info.find("\"Inputs\"");
        std::string const reads = inputs == std::string::npos ? "" : jsonString(info, "Format/Datatype", inputs);
        std::cout << "    " << std::left << std::setw(18) << type << std::right << " reads " << reads << "  " << name
                  << std::endl;
        bool const isConvolution
            = jsonString(info, "ParameterType") == "Convolution" || type.find("Convolution") != std::string::npos;
        for (auto& [conv, format] : formats)
        {
            if (isConvolution && !reads.empty() && format == "?" && containsName(name, conv))
                format = reads;
        }
    }
    return formats;
}

struct Result
{
    std::vector<float> logits; // [360, 10]
    float accuracy{0.0F};
    std::map<std::string, std::string> formats;
};

// The test set in batches of up to kBatchMax images (5 x 64, then 40).
static bool runTestSet(ICudaEngine& engine, std::vector<float> const& images, std::vector<int32_t> const& labels,
    Result& result)
{
    int const n = static_cast<int>(labels.size());
    std::unique_ptr<IExecutionContext> context(engine.createExecutionContext());
    if (!context || !context->setInputShape(kInputName, Dims4{kBatchOpt, 1, kSize, kSize}))
    {
        std::cerr << "createExecutionContext or setInputShape failed" << std::endl;
        return false;
    }
    result.logits.assign(static_cast<size_t>(n) * kClasses, 0.0F);
    void *inputDevice = nullptr, *outputDevice = nullptr;
    CHECK(cudaMalloc(&inputDevice, kBatchMax * kImageElements * sizeof(float)));
    CHECK(cudaMalloc(&outputDevice, kBatchMax * kClasses * sizeof(float)));
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    bool ok = context->setTensorAddress(kInputName, inputDevice)
        && context->setTensorAddress(kOutputName, outputDevice);
    for (int start = 0; ok && start < n; start += kBatchMax)
    {
        int const count = std::min(kBatchMax, n - start);
        ok = context->setInputShape(kInputName, Dims4{count, 1, kSize, kSize});
        Dims const outputShape = context->getTensorShape(kOutputName);
        ok = ok && outputShape.nbDims == 2 && outputShape.d[0] == count && outputShape.d[1] == kClasses;
        if (!ok)
        {
            std::cerr << "batch of " << count << ": setInputShape failed or the output shape is "
                      << cookbook::shapeString(outputShape) << std::endl;
            break;
        }
        CHECK(cudaMemcpyAsync(inputDevice, images.data() + start * kImageElements,
            count * kImageElements * sizeof(float), cudaMemcpyHostToDevice, stream));
        ok = context->enqueueV3(stream);
        CHECK(cudaMemcpyAsync(result.logits.data() + static_cast<size_t>(start) * kClasses, outputDevice,
            count * kClasses * sizeof(float), cudaMemcpyDeviceToHost, stream));
        CHECK(cudaStreamSynchronize(stream));
    }
    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(inputDevice));
    CHECK(cudaFree(outputDevice));
    int correct = 0;
    for (int i = 0; i < n; ++i)
    {
        float const* row = result.logits.data() + static_cast<size_t>(i) * kClasses;
        correct += static_cast<int>(std::max_element(row, row + kClasses) - row) == labels[i];
    }
    result.accuracy = static_cast<float>(static_cast<double>(correct) / n);
    return ok;
}

static double maxAbsError(std::vector<float> const& got, std::vector<float> const& want)
{
    double error = 0.0;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
        error = std::max(error, std::fabs(static_cast<double>(got[i]) - want[i]));
    return error;
}

// |got - want| <= atol + rtol |want| for every element (numpy's isclose), printed as main.py's run block does.
static bool checkClose(std::string const& name, std::vector<float> const& got, std::vector<float> const& want,
    double rtol, double atol)
{
    bool ok = got.size() == want.size();
    for (size_t i = 0; ok && i < got.size(); ++i)
        ok = std::fabs(static_cast<double>(got[i]) - want[i]) <= atol + rtol * std::fabs(static_cast<double>(want[i]));
    std::cout << "check result: " << (ok ? "True" : "False") << ", " << name << ": max abs error = " << std::scientific
              << std::setprecision(3) << maxAbsError(got, want) << std::defaultfloat << " (rtol=" << rtol
              << ", atol=" << atol << ")" << std::endl;
    return ok;
}

static bool checkFact(std::string const& name, bool fact)
{
    std::cout << "check result: " << (fact ? "True" : "False") << ", " << name << std::endl;
    return fact;
}

// Whether the convolutions of one engine read `type` ("fp32", "fp16", "int8"): all of them, or at least one.
static bool convolutionsRead(Result const& result, std::string const& type, bool all)
{
    bool any = false, every = !result.formats.empty();
    for (auto const& [conv, format] : result.formats)
    {
        std::string lower = format;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        bool const found = lower.find(type) != std::string::npos;
        any = any || found;
        every = every && found;
    }
    return all ? every : any;
}

int main()
{
    CHECK(cudaSetDevice(0));
    cookbook::Logger logger(ILogger::Severity::kWARNING);
    npz::File data, reference;
    try
    {
        data = npz::load(kDataFile);
        reference = npz::load(kReferenceFile);
    }
    catch (npz::Error const& error)
    {
        std::cerr << error.what() << " (command.sh writes " << kDataFile << " with python3 digits.py)" << std::endl;
        return 1;
    }
    std::vector<float> const trainImages = data.at("train_images").values<float>();
    std::vector<float> const images = data.at("test_images").values<float>();
    std::vector<int32_t> const labels = data.at("test_labels").values<int32_t>();
    std::vector<float> const torchLogits = reference.at("logits_fp32").values<float>();
    float const torchAccuracy = reference.at("accuracy_fp32").values<float>().at(0);
    std::unique_ptr<IRuntime> runtime(createInferRuntime(logger));
    auto deserialize = [&](std::vector<char> const& plan) {
        return std::unique_ptr<ICudaEngine>(
            plan.empty() ? nullptr : runtime->deserializeCudaEngine(plan.data(), plan.size()));
    };

    std::vector<std::string> convNames;
    std::map<Precision, std::unique_ptr<ICudaEngine>> engines;
    std::cout << "=== " << kOnnxFile << " parsed by nvonnxparser, the network's layers:"
              << std::endl;
    engines[Precision::kFP32] = deserialize(buildSerializedEngine(logger, Precision::kFP32, nullptr, convNames));
    engines[Precision::kFP16] = deserialize(buildSerializedEngine(logger, Precision::kFP16, nullptr, convNames));
    std::remove(kCacheFile); // the first INT8 build must calibrate
    bool cacheReused = true;
    for (int attempt = 0; attempt < 2; ++attempt)
    {
        std::cout << "=== INT8 build, IInt8EntropyCalibrator2: "
                  << (attempt == 0 ? "calibrate and write the cache" : "read the cache") << std::endl;
        EntropyCalibrator calibrator(trainImages, kCacheFile); // fresh: only the cache file is kept
        engines[Precision::kINT8]
            = deserialize(buildSerializedEngine(logger, Precision::kINT8, &calibrator, convNames));
        std::cout << "  getBatch was called " << calibrator.mGetBatchCalls << " times" << std::endl;
        cacheReused = cacheReused
            && (attempt == 0 ? calibrator.mGetBatchCalls > 0 : calibrator.mCacheRead && calibrator.mGetBatchCalls == 0);
    }
    std::vector<char> const cache = cookbook::loadFile(kCacheFile); // text: a header, then "tensor: scale (hex)"
    std::string const text(cache.begin(), cache.end());
    std::cout << "  " << kCacheFile << ", the first lines:" << std::endl;
    for (size_t begin = 0, line = 0; begin < text.size() && line < 5; ++line)
    {
        size_t const end = std::min(text.find('\n', begin), text.size());
        std::cout << "    " << text.substr(begin, end - begin) << std::endl;
        begin = end + 1;
    }

    std::map<Precision, Result> results;
    for (auto& [precision, engine] : engines)
    {
        char const* const name = kPrecisionNames[static_cast<int>(precision)];
        // The inspector needs static shapes (see inspectConvolutions): the same build with the batch fixed at
        // kBatchOpt, the shape whose kernels the dynamic engine chose (INT8: scales from the cache).
        std::cout << "=== " << name << ": the same build with a fixed batch of " << kBatchOpt
                  << ", its layers (engine inspector):" << std::endl;
        std::unique_ptr<EntropyCalibrator> cacheReader; // INT8 only: it reads the cache
        if (precision == Precision::kINT8)
            cacheReader = std::make_unique<EntropyCalibrator>(trainImages, kCacheFile);
        std::vector<std::string> unused;
        std::unique_ptr<ICudaEngine> fixed
            = deserialize(buildSerializedEngine(logger, precision, cacheReader.get(), unused, kBatchOpt));
        if (!engine || !fixed || !runTestSet(*engine, images, labels, results[precision]))
        {
            std::cerr << "building or running the " << name << " engine failed" << std::endl;
            return 1;
        }
        results[precision].formats = inspectConvolutions(*fixed, convNames);
    }

    std::cout << "\nprecision    max |logit - torch logit|  accuracy  convolutions read" << std::endl;
    std::printf("%-12s %26s %9.4f\n", "torch (CPU)", "-", torchAccuracy);
    for (auto const& [precision, result] : results)
    {
        std::printf("%-12s %26.3e %9.4f ", kPrecisionNames[static_cast<int>(precision)],
            maxAbsError(result.logits, torchLogits), result.accuracy);
        for (auto const& [conv, format] : result.formats)
            std::cout << " " << conv << ": " << format << ";";
        std::cout << std::endl;
    }

    Result const& fp32 = results[Precision::kFP32];
    Result const& fp16 = results[Precision::kFP16];
    Result const& int8 = results[Precision::kINT8];
    std::vector<float> const expectedAccuracy{torchAccuracy};
    std::vector<float> const fp32Accuracy{fp32.accuracy}, fp16Accuracy{fp16.accuracy}, int8Accuracy{int8.accuracy};
    bool const fp32Convolutions = convolutionsRead(fp32, "fp32", true);
    bool const fp16Convolution = convolutionsRead(fp16, "fp16", false);
    bool const int8Convolution = convolutionsRead(int8, "int8", false);
    bool passed = checkClose("logits_fp32", fp32.logits, torchLogits, 1e-4, 1e-4);
    passed = checkClose("logits_fp16", fp16.logits, torchLogits, 1e-2, 0.1) && passed;
    passed = checkClose("accuracy_fp32", fp32Accuracy, expectedAccuracy, 0.0, 0.003) && passed;
    passed = checkClose("accuracy_fp16", fp16Accuracy, expectedAccuracy, 0.0, 0.005) && passed;
    passed = checkClose("accuracy_int8", int8Accuracy, expectedAccuracy, 0.0, 0.01) && passed;
    passed = checkFact("fp32_convolutions: every convolution of the FP32 engine reads FP32", fp32Convolutions)
        && passed;
    passed = checkFact("fp16_convolution: a convolution of the FP16 engine reads FP16", fp16Convolution) && passed;
    passed = checkFact("int8_convolution: a convolution of the INT8 engine reads INT8", int8Convolution) && passed;
    passed = checkFact("cache_reused: the first INT8 build calibrated, the second read the cache", cacheReused)
        && passed;

    std::string const folder = "main.cpp.output/";
    std::vector<int64_t> const logitsShape{static_cast<int64_t>(labels.size()), kClasses};
    bool const saved = cookbook::saveNpy(folder + "logits_fp32.npy", fp32.logits.data(), logitsShape)
        && cookbook::saveNpy(folder + "logits_fp16.npy", fp16.logits.data(), logitsShape)
        && cookbook::saveNpy(folder + "accuracy_fp32.npy", fp32Accuracy.data(), {})
        && cookbook::saveNpy(folder + "accuracy_fp16.npy", fp16Accuracy.data(), {})
        && cookbook::saveNpy(folder + "accuracy_int8.npy", int8Accuracy.data(), {})
        && cookbook::saveNpy(folder + "fp32_convolutions.npy", &fp32Convolutions, {})
        && cookbook::saveNpy(folder + "fp16_convolution.npy", &fp16Convolution, {})
        && cookbook::saveNpy(folder + "int8_convolution.npy", &int8Convolution, {})
        && cookbook::saveNpy(folder + "cache_reused.npy", &cacheReused, {});
    if (!saved)
    {
        std::cerr << "could not write " << folder << std::endl;
        passed = false;
    }
    return passed ? 0 : 1;
}
