// The operator library survives static linking (modelgate_kernels links its archive whole) and
// every schema has the implementations kernels/ops.h promises.
#include "kernels/ops.h"

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

namespace mk = modelgate::kernels;

TEST(Registration, SchemasAreRegistered) {
  EXPECT_TRUE(c10::Dispatcher::singleton().findSchema({"modelgate::linf_step_", ""}).has_value());
  ASSERT_EQ(mk::operator_names().size(), 7u);
  for (const auto& name : mk::operator_names())
    EXPECT_TRUE(c10::Dispatcher::singleton().findSchema({"modelgate::" + name, ""}).has_value()) << name;
}

TEST(Registration, EveryOperatorHasReferenceAndCpuKernels) {
  for (const auto& name : mk::operator_names()) {
    const auto op = c10::Dispatcher::singleton().findSchemaOrThrow(("modelgate::" + name).c_str(), "");
    EXPECT_TRUE(op.hasKernelForDispatchKey(c10::DispatchKey::CompositeExplicitAutograd)) << name;
    EXPECT_TRUE(op.hasKernelForDispatchKey(c10::DispatchKey::CPU)) << name;
    EXPECT_EQ(mk::backend_for(name, c10::DeviceType::CPU), "cpu") << name;
    EXPECT_EQ(mk::backend_for(name, c10::DeviceType::CUDA), mk::cuda_kernels_compiled() ? "cuda" : "reference")
        << name;
    // Devices without a kernel of their own fall back to the reference.
    EXPECT_EQ(mk::backend_for(name, c10::DeviceType::Meta), "reference") << name;
  }
}

TEST(Registration, ReferenceServesDevicesWithoutAKernel) {
  // Meta tensors have no data, no CPU and no CUDA kernel: the reference composition runs and
  // propagates shapes and dtypes.
  auto x = at::empty({4, 3, 8, 8}, at::TensorOptions().device(at::kMeta));
  EXPECT_EQ(mk::philox_bits(x, 1, 0).scalar_type(), at::kInt);
  EXPECT_EQ(mk::gaussian_noise(x, 0.1, 1, 0).sizes(), x.sizes());
  EXPECT_EQ(mk::gaussian_noise(x, 0.1, 1, 0).device().type(), c10::DeviceType::Meta);
  EXPECT_EQ(mk::sign_sketch(x, 32, 1).sizes(), (std::vector<int64_t>{4, 32}));
  auto y = at::empty_like(x);
  EXPECT_TRUE(mk::linf_step_(y, x, x, 0.1, 0.1).is_same(y));
}

TEST(Registration, UnknownOperatorIsAnError) {
  EXPECT_THROW(mk::backend_for("no_such_op", c10::DeviceType::CPU), c10::Error);
}

// The kernels are compiled with OpenMP, so at::parallel_for in them runs on the thread count
// set with at::set_num_threads (one OpenMP runtime: the wheel's libgomp), not on one thread.
TEST(Registration, CpuKernelsRunOnTheThreadCountSet) {
#ifdef MODELGATE_KERNELS_SERIAL
  GTEST_SKIP() << "kernels built without OpenMP (clang cannot target the wheel's libgomp)";
#endif
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  EXPECT_EQ(mk::cpu_kernel_threads(), 2);
  at::set_num_threads(1);
  EXPECT_EQ(mk::cpu_kernel_threads(), 1);
  at::set_num_threads(before);
}
