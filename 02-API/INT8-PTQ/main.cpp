// 02-API/INT8-PTQ in C++: main.py with the C++ API. An IInt8EntropyCalibrator2 with a calibration cache, on the
// network of calibration.py: x [2,64,56,56] -> 3 x (Conv 3x3, 64 maps, padding 1 -> ReLU) -> global average pooling.
// Weights and images come from the same formulas as calibration.py (computed in double, rounded to float), so the
// C++ engine sees the same network and data. The program builds twice: the first build calibrates and writes
// main-cpp.cache, the second reads the cache and does not calibrate. For both engines it reads the engine inspector
// (DETAILED, with an execution context) and checks that every convolution ran in INT8; it runs the second engine
// and checks its output against a CPU FP32 reference with main.py's tolerance. It saves what main.py saves, as
// main.cpp.output/{outputT0,int8_convolutions,cache_reused}.npy, compared with main.reference.npz by the tests.
#include "cookbookHelper.cuh"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <memory>

using namespace nvinfer1;

static char const* const kInputName = "inputT0";
static char const* const kOutputName = "outputT0";
static char const* const kCacheFile = "main-cpp.cache";
static int const kBatch = 2, kC = 64, kH = 56, kW = 56;
static int const kNCalibration = 8, kTestStart = 1000;
static char const* const kConvNames[3] = {"Conv1", "Conv2", "Conv3"};
// chirp() parameters (scale, a, b, c) of each convolution's kernel and bias: calibration.py's KERNELS and BIASES
static double const kKernels[3][4] = {{0.0833, 0.37, 0.9, 0.2}, {0.0833, 0.37, 1.0, 0.4}, {0.0833, 0.37, 1.1, 0.6}};
static double const kBiases[3][4] = {{0.05, 0.37, 1.1, 2.0}, {0.05, 0.37, 1.1, 3.0}, {0.05, 0.37, 1.1, 4.0}};
static double const kRtol = 0.1, kAtol = 0.15; // main.py's TOLERANCE (see its comment)
static size_t const kImageElements = static_cast<size_t>(kC) * kH * kW;

// images start .. start+count-1, [count, C, H, W]: the formula of calibration.py's make_images()
static std::vector<float> makeImages(int start, int count)
{
    std::vector<float> images(count * kImageElements);
    for (int i = 0; i < count; ++i)
    {
        double const n = start + i;
        for (int c = 0; c < kC; ++c)
        {
            for (int h = 0; h < kH; ++h)
            {
                for (int w = 0; w < kW; ++w)
                {
                    double const v = std::sin(0.37 * n + 0.71 * h + 0.23 * c) * std::cos(0.29 * n + 0.53 * w + 0.17 * c)
                        + 0.25 * std::sin(0.11 * n + 0.013 * h * w + 0.31 * c);
                    images[((static_cast<size_t>(i) * kC + c) * kH + h) * kW + w] = static_cast<float>(v);
                }
            }
        }
    }
    return images;
}

// element k = scale * sin(a k^2 + b k + c): calibration.py's chirp()
static std::vector<float> chirp(size_t count, double const (&p)[4])
{
    std::vector<float> values(count);
    for (size_t i = 0; i < count; ++i)
    {
        double const k = static_cast<double>(i);
        values[i] = static_cast<float>(p[0] * std::sin(p[1] * k * k + p[2] * k + p[3]));
    }
    return values;
}

struct NetworkWeights
{
    std::vector<float> kernels[3], biases[3];
    NetworkWeights()
    {
        for (int i = 0; i < 3; ++i)
        {
            kernels[i] = chirp(static_cast<size_t>(kC) * kC * 9, kKernels[i]);
            biases[i] = chirp(kC, kBiases[i]);
        }
    }
};

// The calibrator: hands over kNCalibration images in batches of kBatch, and reads / writes the calibration cache.
class EntropyCalibrator : public IInt8EntropyCalibrator2
{
public:
    explicit EntropyCalibrator(std::string cacheFile)
        : mCacheFile(std::move(cacheFile))
        , mImages(makeImages(0, kNCalibration))
    {
        CHECK(cudaMalloc(&mDeviceInput, kBatch * kImageElements * sizeof(float)));
    }

    ~EntropyCalibrator() override
    {
        CHECK(cudaFree(mDeviceInput));
    }

    int32_t getBatchSize() const noexcept override
    {
        return kBatch;
    }

    bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override
    {
        ++mGetBatchCalls;
        size_t const start = static_cast<size_t>(mNextBatch) * kBatch;
        if (start + kBatch > static_cast<size_t>(kNCalibration) || nbBindings != 1)
        {
            return false; // no more data: calibration ends
        }
        CHECK(cudaMemcpy(mDeviceInput, mImages.data() + start * kImageElements, kBatch * kImageElements * sizeof(float),
            cudaMemcpyHostToDevice));
        bindings[0] = mDeviceInput; // names[0] is the input's name
        ++mNextBatch;
        return true;
    }

    void const* readCalibrationCache(std::size_t& length) noexcept override
    {
        mCache = cookbook::loadFile(mCacheFile);
        length = mCache.size();
        if (mCache.empty())
        {
            std::cout << "  readCalibrationCache: no " << mCacheFile << ", returning nullptr: TensorRT calibrates"
                      << std::endl;
            return nullptr;
        }
        mCacheBytesRead = mCache.size();
        std::cout << "  readCalibrationCache: " << length << " bytes from " << mCacheFile
                  << ": calibration is skipped" << std::endl;
        return mCache.data();
    }

    void writeCalibrationCache(void const* cache, std::size_t length) noexcept override
    {
        cookbook::saveFile(mCacheFile, cache, length);
        std::cout << "  writeCalibrationCache: " << length << " bytes to " << mCacheFile << std::endl;
    }

    int mGetBatchCalls{0};
    size_t mCacheBytesRead{0};

private:
    std::string mCacheFile;
    std::vector<float> mImages;
    std::vector<char> mCache; // must stay valid while TensorRT reads it
    void* mDeviceInput{nullptr};
    int mNextBatch{0};
};

static std::vector<char> buildSerializedEngine(cookbook::Logger& logger, NetworkWeights const& w,
    IInt8Calibrator* calibrator)
{
    std::unique_ptr<IBuilder> builder(createInferBuilder(logger));
    std::unique_ptr<INetworkDefinition> network(
        builder->createNetworkV2(1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH)));
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    config->clearFlag(BuilderFlag::kTF32);
    config->setProfilingVerbosity(ProfilingVerbosity::kDETAILED); // the inspector then shows each layer's formats
    config->setFlag(BuilderFlag::kINT8);      // allows INT8 kernels: the builder picks them where they are faster
    config->setInt8Calibrator(calibrator);    // static shapes: the calibration batches have the input's shape

    auto weights = [](std::vector<float> const& v) {
        return Weights{DataType::kFLOAT, v.data(), static_cast<int64_t>(v.size())};
    };
    ITensor* tensor = network->addInput(kInputName, DataType::kFLOAT, Dims4{kBatch, kC, kH, kW});
    for (int i = 0; i < 3; ++i)
    {
        IConvolutionLayer* conv
            = network->addConvolutionNd(*tensor, kC, DimsHW{3, 3}, weights(w.kernels[i]), weights(w.biases[i]));
        conv->setPaddingNd(DimsHW{1, 1});
        conv->setName(kConvNames[i]);
        IActivationLayer* relu = network->addActivation(*conv->getOutput(0), ActivationType::kRELU);
        relu->setName(("ReLU" + std::to_string(i + 1)).c_str());
        tensor = relu->getOutput(0);
    }
    IPoolingLayer* pool = network->addPoolingNd(*tensor, PoolingType::kAVERAGE, DimsHW{kH, kW}); // global average
    pool->setName("GlobalAvgPool");
    pool->getOutput(0)->setName(kOutputName);
    network->markOutput(*pool->getOutput(0));

    std::unique_ptr<IHostMemory> serialized(builder->buildSerializedNetwork(*network, *config));
    if (!serialized || serialized->size() == 0)
    {
        return {};
    }
    char const* bytes = static_cast<char const*>(serialized->data());
    return std::vector<char>(bytes, bytes + serialized->size());
}

// The string value of the first "key" at or after `from` in a JSON text ("" if there is none): enough for the
// flat fields of the inspector's layer information, without a JSON library.
static std::string jsonString(std::string const& json, std::string const& key, size_t from = 0)
{
    size_t const k = json.find("\"" + key + "\"", from);
    if (k == std::string::npos)
        return "";
    size_t i = k + key.size() + 2;
    while (i < json.size() && std::isspace(static_cast<unsigned char>(json[i])))
        ++i;
    if (i >= json.size() || json[i] != ':')
        return "";
    ++i;
    while (i < json.size() && std::isspace(static_cast<unsigned char>(json[i])))
        ++i;
    if (i >= json.size() || json[i] != '"')
        return "";
    size_t const close = json.find('"', i + 1);
    return close == std::string::npos ? "" : json.substr(i + 1, close - i - 1);
}

// True when the engine has a convolution layer for each network convolution and each of them reads INT8
// (calibration.py's convolutions_in_int8). The inspector gets an execution context, so that it knows the formats.
static bool allConvolutionsInt8(ICudaEngine& engine)
{
    std::unique_ptr<IExecutionContext> context(engine.createExecutionContext());
    std::unique_ptr<IEngineInspector> inspector(engine.createEngineInspector());
    inspector->setExecutionContext(context.get());
    bool found[3] = {false, false, false}, int8[3] = {false, false, false};
    for (int32_t i = 0; i < engine.getNbLayers(); ++i)
    {
        std::string const info = inspector->getLayerInformation(i, LayerInformationFormat::kJSON);
        std::string const name = jsonString(info, "Name"), type = jsonString(info, "LayerType");
        size_t const inputs = info.find("\"Inputs\"");
        std::string format = inputs == std::string::npos ? "" : jsonString(info, "Format/Datatype", inputs);
        std::cout << "  layer " << name.substr(0, 44) << " | " << type << " | input " << format << std::endl;
        if (jsonString(info, "ParameterType") != "Convolution" && type.find("Convolution") == std::string::npos)
            continue;
        std::transform(format.begin(), format.end(), format.begin(), [](unsigned char c) { return std::tolower(c); });
        for (int k = 0; k < 3; ++k)
        {
            if (!found[k] && name.find(kConvNames[k]) != std::string::npos) // fused: "Conv1 + ReLU1"
            {
                found[k] = true;
                int8[k] = format.find("int8") != std::string::npos;
            }
        }
    }
    bool const all = found[0] && found[1] && found[2] && int8[0] && int8[1] && int8[2];
    std::cout << "  every convolution ran in INT8: " << (all ? "True" : "False") << std::endl;
    return all;
}

// The FP32 network on the CPU, in double: 3 x (3x3 convolution with padding 1 + bias, ReLU), mean over H and W.
static std::vector<float> reference(std::vector<float> const& x, NetworkWeights const& w)
{
    std::vector<double> a(x.begin(), x.end()), b(a.size());
    for (int layer = 0; layer < 3; ++layer)
    {
        std::vector<float> const& k = w.kernels[layer];
        for (int n = 0; n < kBatch; ++n)
            for (int o = 0; o < kC; ++o)
            {
                double* out = &b[(static_cast<size_t>(n) * kC + o) * kH * kW];
                std::fill(out, out + kH * kW, static_cast<double>(w.biases[layer][o]));
                for (int c = 0; c < kC; ++c)
                {
                    double const* in = &a[(static_cast<size_t>(n) * kC + c) * kH * kW];
                    for (int dh = 0; dh < 3; ++dh)
                        for (int dw = 0; dw < 3; ++dw)
                        {
                            double const weight = k[((static_cast<size_t>(o) * kC + c) * 3 + dh) * 3 + dw];
                            for (int h = std::max(0, 1 - dh); h < std::min(kH, kH + 1 - dh); ++h)
                                for (int ww = std::max(0, 1 - dw); ww < std::min(kW, kW + 1 - dw); ++ww)
                                    out[h * kW + ww] += weight * in[(h + dh - 1) * kW + ww + dw - 1];
                        }
                }
                for (int i = 0; i < kH * kW; ++i)
                    out[i] = std::max(out[i], 0.0); // ReLU
            }
        a.swap(b);
    }
    std::vector<float> result(static_cast<size_t>(kBatch) * kC);
    for (size_t i = 0; i < result.size(); ++i)
    {
        double sum = 0.0;
        for (int j = 0; j < kH * kW; ++j)
            sum += a[i * kH * kW + j];
        result[i] = static_cast<float>(sum / (kH * kW));
    }
    return result;
}

int main()
{
    CHECK(cudaSetDevice(0));
    cookbook::Logger logger(ILogger::Severity::kERROR);
    NetworkWeights const w; // alive until both builds are done
    std::remove(kCacheFile);
    std::unique_ptr<IRuntime> runtime(createInferRuntime(logger));

    std::unique_ptr<ICudaEngine> engine;
    bool int8 = true, cacheReused = true;
    for (int attempt = 0; attempt < 2; ++attempt)
    {
        std::cout << "=== INT8 build " << attempt + 1 << (attempt == 0 ? ": calibrate" : ": from the cache")
                  << std::endl;
        EntropyCalibrator calibrator(kCacheFile);
        std::vector<char> const plan = buildSerializedEngine(logger, w, &calibrator);
        if (plan.empty())
        {
            std::cerr << "building the engine failed" << std::endl;
            return 1;
        }
        std::cout << "engine " << plan.size() << " bytes; getBatch was called " << calibrator.mGetBatchCalls
                  << " times; readCalibrationCache returned " << calibrator.mCacheBytesRead << " bytes" << std::endl;
        cacheReused = cacheReused
            && (attempt == 0 ? calibrator.mGetBatchCalls > 0
                             : calibrator.mCacheBytesRead > 0 && calibrator.mGetBatchCalls == 0);
        engine.reset(runtime->deserializeCudaEngine(plan.data(), plan.size()));
        if (!engine)
        {
            std::cerr << "deserializing the engine failed" << std::endl;
            return 1;
        }
        int8 = allConvolutionsInt8(*engine) && int8;
    }
    std::cout << "check result: " << (cacheReused ? "True" : "False")
              << ", the first build calibrated, the second read the cache and did not calibrate" << std::endl;
    std::cout << "check result: " << (int8 ? "True" : "False") << ", every convolution of both engines ran in INT8"
              << std::endl;

    std::unique_ptr<IExecutionContext> context(engine->createExecutionContext());
    Dims const outputShape = context->getTensorShape(kOutputName);
    std::vector<float> input = makeImages(kTestStart, kBatch);
    std::vector<float> output(cookbook::volume(outputShape));
    void *inputDevice = nullptr, *outputDevice = nullptr;
    CHECK(cudaMalloc(&inputDevice, input.size() * sizeof(float)));
    CHECK(cudaMalloc(&outputDevice, output.size() * sizeof(float)));
    context->setTensorAddress(kInputName, inputDevice);
    context->setTensorAddress(kOutputName, outputDevice);
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    CHECK(cudaMemcpyAsync(inputDevice, input.data(), input.size() * sizeof(float), cudaMemcpyHostToDevice, stream));
    if (!context->enqueueV3(stream))
    {
        std::cerr << "enqueueV3 failed" << std::endl;
        return 1;
    }
    CHECK(cudaMemcpyAsync(output.data(), outputDevice, output.size() * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));
    cookbook::printArray(output.data(), outputShape, kOutputName);

    std::vector<float> const expected = reference(input, w);
    double maxError = 0.0;
    bool ok = output.size() == expected.size();
    for (size_t i = 0; i < std::min(output.size(), expected.size()); ++i)
    {
        double const error = std::fabs(static_cast<double>(output[i]) - expected[i]);
        maxError = std::max(maxError, error);
        ok = ok && error <= kAtol + kRtol * std::fabs(expected[i]);
    }
    std::cout << "check result: " << (ok ? "True" : "False") << ", max abs error = " << maxError
              << " against the FP32 CPU reference" << std::endl;
    bool passed = ok && int8 && cacheReused;
    std::vector<int64_t> const shape(outputShape.d, outputShape.d + outputShape.nbDims);
    if (!cookbook::saveNpy("main.cpp.output/outputT0.npy", output.data(), shape)
        || !cookbook::saveNpy("main.cpp.output/int8_convolutions.npy", &int8, {})
        || !cookbook::saveNpy("main.cpp.output/cache_reused.npy", &cacheReused, {}))
    {
        std::cerr << "could not write main.cpp.output/" << std::endl;
        passed = false;
    }

    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(inputDevice));
    CHECK(cudaFree(outputDevice));
    return passed ? 0 : 1;
}
